"""A Sentinel failover: primary + replica + 3 sentinels on loopback ports; kill -9 the primary;
the gateways (same processes) follow the promotion and service resumes within the bound."""

import threading
import time

import httpx

from status import Redis  # the cluster scripts' own small RESP client (cluster/lib, on the path by pytest.ini)

RESUME_BOUND_S = 20  # stated in the README's operator's guide


def test_sentinel_failover_resumes_service_within_bound(make_cluster):
    cluster = make_cluster(gateways=2, sentinel=True)
    cluster.wait_balanced(2)
    primary, replica = f"redis-{cluster.redis_port}", f"redis-{cluster.redis_port + 1}"
    assert set(cluster.nodes("redis")) == {primary, replica}
    gateway_pids = {g: cluster.pid(g) for g in cluster.nodes("gateway")}
    assert cluster.status()["redis"]["address"] == f"127.0.0.1:{cluster.redis_port}"

    sid = cluster.create_session(code="before the failover\n")["id"]
    r = httpx.post(f"{cluster.url}/api/v1/sessions/{sid}/code", json={"code": "saved before the failover\n"}, timeout=10)
    assert r.status_code in (200, 201), r.text
    # Replication is asynchronous: make sure the replica has everything before the primary dies
    # (what a client would get from WAIT; see the README on what a failover can lose).
    p = Redis("127.0.0.1", cluster.redis_port, timeout=10)
    deadline = time.monotonic() + 20
    while p.call("WAIT", "1", "1000") != 1:  # the replica may still be in its first sync
        assert time.monotonic() < deadline, "the replica never caught up"
    p.close()

    results: list[tuple[float, int]] = []
    stop = threading.Event()

    def load():
        with httpx.Client(base_url=cluster.url, timeout=5) as http:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    status = http.post(f"/api/v1/sessions/{sid}/code", json={"code": f"edit {n}\n"}).status_code
                except httpx.HTTPError:
                    status = 0
                results.append((time.monotonic(), status))
                time.sleep(0.05)

    loader = threading.Thread(target=load)
    loader.start()
    try:
        time.sleep(1.0)
        killed_at = time.monotonic()
        cluster.kill9(primary)
        deadline = killed_at + RESUME_BOUND_S + 10
        resumed_at = None
        while time.monotonic() < deadline:
            ok_after = [t for t, s in results if t > killed_at + 0.2 and 200 <= s < 300]
            if ok_after:
                resumed_at = ok_after[0]
                break
            time.sleep(0.1)
        time.sleep(2.0)  # and it stays up
    finally:
        stop.set()
        loader.join(10)

    assert resumed_at is not None, f"writes did not resume within {RESUME_BOUND_S + 10} s: {results[-5:]}"
    resumed = resumed_at - killed_at
    failed_during = sum(1 for t, s in results if killed_at < t < resumed_at and not 200 <= s < 300)
    after = [s for t, s in results if t > resumed_at + 0.5]
    assert after and all(200 <= s < 300 for s in after), f"errors after the service resumed: {after}"
    assert resumed < RESUME_BOUND_S, f"service resumed after {resumed:.1f} s (bound {RESUME_BOUND_S} s)"
    # What was written before the failover is on the new primary.
    session = httpx.get(f"{cluster.url}/api/v1/sessions/{sid}", timeout=10)
    assert session.status_code == 200
    # The replica is the primary now, and the gateways are the same processes.
    status = cluster.status()
    assert status["redis"]["address"] == f"127.0.0.1:{cluster.redis_port + 1}", status["redis"]
    assert status["redis"]["role"] == "master"
    assert {g: cluster.pid(g) for g in gateway_pids} == gateway_pids
    assert status["totals"]["gateways_up"] == 2
    r = httpx.get(f"{cluster.url}/api/v1/cluster", headers={"Authorization": "Bearer test-admin-token"}, timeout=10)
    assert r.status_code == 200 and r.json()["redis"]["address"] == f"127.0.0.1:{cluster.redis_port + 1}", r.text
    print(f"\nSentinel failover: writes resumed {resumed:.1f} s after kill -9 of the primary "
          f"(down-after 2 s); {failed_during} request(s) got 503 meanwhile")
