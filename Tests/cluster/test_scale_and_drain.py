"""Adding a gateway under load (from a simulated second machine, 127.0.0.3, through HAProxy's TCP
runtime API) and draining another: no request fails, and the WebSocket clients of the drained
gateway are told 1012, reconnect through the balancer and lose nothing."""

import asyncio
import threading
import time

import httpx

from harness.editors import Editor


class Load:
    """Client loops through HAProxy: reads, creates, joins and saves; every failure is kept."""

    def __init__(self, url: str, sid: str, threads: int = 4):
        self.url, self.sid = url, sid
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop, args=(i,)) for i in range(threads)]

    def _check(self, what: str, response: httpx.Response, expected: tuple):
        with self.lock:
            if response.status_code in expected:
                self.ok += 1
            else:
                self.failures.append(f"{what}: {response.status_code} {response.text[:200]}")

    def _loop(self, index: int):
        with httpx.Client(base_url=self.url, timeout=10) as http:
            n = 0
            while not self.stop.is_set():
                n += 1
                try:
                    self._check("GET session", http.get(f"/api/v1/sessions/{self.sid}"), (200,))
                    if n % 2 == 0:
                        r = http.post("/api/v1/sessions", json={"host_name": f"h{index}", "initial_language": "python"})
                        self._check("POST sessions", r, (201,))
                        if r.status_code == 201:
                            new = r.json()["id"]
                            self._check("POST users", http.post(f"/api/v1/sessions/{new}/users", json={"name": "c"}), (200, 201))
                            self._check("POST code", http.post(f"/api/v1/sessions/{new}/code", json={"code": f"x = {n}\n"}), (200, 201))
                except httpx.HTTPError as e:
                    with self.lock:
                        self.failures.append(f"{type(e).__name__}: {e}")

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(15)


def served(cluster, node: str) -> int:
    return cluster.balancer_servers().get(node, {}).get("total_sessions", 0)


def test_add_gateway_under_load_and_drain_another_fails_no_request(make_cluster):
    cluster = make_cluster(gateways=2, admin_address=True)
    cluster.wait_balanced(2)
    first, second = cluster.nodes("gateway")
    sid = cluster.create_session(code="")["id"]

    async def main():
        editors = [Editor(cluster.ws_url(sid), f"w{i}", seed=10 + i) for i in range(4)]
        tasks = [asyncio.create_task(e.run()) for e in editors]
        await asyncio.wait_for(asyncio.gather(*(e.connected.wait() for e in editors)), 15)
        on_first = cluster.balancer_servers()[first]["sessions"]
        with Load(cluster.url, sid) as load:
            await asyncio.sleep(1.0)
            # A new machine joins: its gateway registers in Redis and enters HAProxy at run time.
            out = await asyncio.to_thread(
                cluster.run, "add-gateway", "--host", "127.0.0.3", "--id", "gw-machine-b",
                "--redis", f"127.0.0.1:{cluster.redis_port}", "--balancer", cluster.admin_address)
            assert "gw-machine-b" in out
            deadline = time.monotonic() + 10
            while served(cluster, "gw-machine-b") == 0:
                assert time.monotonic() < deadline, "the new gateway got no traffic"
                await asyncio.sleep(0.1)
            # Take the first gateway out: drain in HAProxy, SIGTERM, 1012 to its WebSockets.
            drain_output = await asyncio.to_thread(cluster.run, "drain", first)
            await asyncio.sleep(1.5)
            requests_ok, failures = load.ok, list(load.failures)
        for e in editors:
            await e.settle()
        for e in editors:
            await e.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        return editors, on_first, requests_ok, failures, drain_output

    editors, on_first, requests_ok, failures, drain_output = asyncio.run(main())
    assert not failures, f"{len(failures)} request(s) failed (of {requests_ok + len(failures)}): {failures[:5]}"
    assert requests_ok > 100, requests_ok
    # The drained gateway is gone from the machine and from HAProxy; the new one serves.
    assert cluster.pid(first) is None
    servers = cluster.balancer_servers()
    assert first not in servers and servers["gw-machine-b"]["status"].startswith("UP"), servers
    assert served(cluster, "gw-machine-b") > 0
    assert cluster.addr("gw-machine-b").startswith("127.0.0.3:")
    # Its WebSockets were told to go elsewhere (1012) and came back through the balancer.
    told = [e for e in editors if 1012 in e.close_codes]
    assert len(told) == on_first, ([(e.name, e.close_codes) for e in editors], on_first, drain_output)
    text = httpx.get(f"{cluster.url}/api/v1/sessions/{sid}/code", timeout=10).json()["code"]
    for e in editors:
        assert not e.failures, (e.name, e.failures)
        assert e.ot.text == text
        assert all(t in text for t in e.acked)
    print(f"\n{requests_ok} requests, 0 failed; {len(told)} WebSocket(s) moved off {first} with 1012")
