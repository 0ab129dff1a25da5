"""kill -9 of a runner mid-job: the job completes on another runner, with exactly one result."""

import asyncio
import json
import time

import httpx
from websockets.asyncio.client import connect as ws_connect

CODE = "import time\nprint('started', flush=True)\ntime.sleep(2.5)\nprint('finished')\n"


def test_kill9_runner_mid_job_completes_elsewhere_with_one_result(make_cluster):
    # A short lease, so the test does not wait the default 5 s for the requeue.
    cluster = make_cluster(gateways=1, runners=2, runner_args="--lease 2000 --heartbeat 500")
    runners = set(cluster.nodes("runner"))
    assert len(runners) == 2
    sid = cluster.create_session()["id"]

    async def main():
        ws = await ws_connect(cluster.ws_url(sid), open_timeout=5, ping_interval=None)
        await ws.send(json.dumps({"type": "join", "data": {"name": "Watcher"}}))
        frames = []

        async def read():
            async for raw in ws:
                frames.append(json.loads(raw))

        reader = asyncio.create_task(read())
        async with httpx.AsyncClient(base_url=cluster.url, timeout=10) as http:
            r = await http.post(f"/api/v1/sessions/{sid}/execute", json={"language": "python", "code": CODE, "wait": False})
            assert r.status_code == 202, r.text
            job = r.json()["job_id"]
            # Wait until a runner is running it, then kill that runner.
            deadline = time.monotonic() + 20
            while True:
                state = (await http.get(f"/api/v1/executions/{job}")).json()
                if state["state"] == "running" and state.get("runner_id"):
                    break
                assert time.monotonic() < deadline, f"the job never started: {state}"
                await asyncio.sleep(0.05)
            first = state["runner_id"]
            assert first in runners
            await asyncio.sleep(0.5)  # mid-job: it prints 'started', then sleeps
            cluster.kill9(first)
            killed_at = time.monotonic()
            deadline = time.monotonic() + 30
            while True:
                state = (await http.get(f"/api/v1/executions/{job}")).json()
                if state["state"] == "done":
                    break
                assert time.monotonic() < deadline, f"the job did not finish after its runner died: {state}"
                await asyncio.sleep(0.1)
            done_after = time.monotonic() - killed_at
            await asyncio.sleep(1.5)  # any second result would have been published by now
            listed = (await http.get(f"/api/v1/sessions/{sid}/executions")).json()
        reader.cancel()
        await ws.close()
        return job, first, state, frames, listed, done_after

    job, first, state, frames, listed, done_after = asyncio.run(main())
    result = state["result"]
    assert result["status"] == "ok", result
    assert result["runner_id"] != first and result["runner_id"] in runners, (first, result["runner_id"])
    assert state["runner_id"] == result["runner_id"]
    assert state["attempts"] == 2, state
    assert result["stdout"].count("finished") == 1, result["stdout"]
    # Exactly one result: one execution-result frame for the job, one entry in the session's list.
    results = [f for f in frames if f["type"] == "execution-result" and f["data"].get("job_id") == job]
    assert len(results) == 1, results
    assert results[0]["data"]["runner_id"] == result["runner_id"]
    items = listed.get("executions", listed if isinstance(listed, list) else [])
    assert [e for e in items if e.get("job_id", e.get("id")) == job].__len__() == 1, listed
    # The dead runner is out of the registry's live set.
    nodes = {n["id"]: n for n in cluster.status()["nodes"]}
    assert nodes[first]["state"] == "expired", nodes[first]
    print(f"\njob {job}: runner {first} killed mid-run; finished on {result['runner_id']} {done_after:.1f} s later")
