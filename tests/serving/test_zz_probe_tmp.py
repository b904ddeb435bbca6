import asyncio, time
import httpx
from .conftest import MODEL, AppFactory, Served
from mlrelease.serving.app import ServeOptions, create_app
from mlrelease.serving.runtime import Runtime
from mlrelease.traffic import set_traffic

def test_probe(served: Served, make_app: AppFactory) -> None:
    app = make_app(options=ServeOptions(batch_wait=0), log=False)
    body = {"features": [float(v) for v in served.X.iloc[0]]}
    t = time.perf_counter()
    for _ in range(500):
        app.post("/predict", json=body)
    print("testclient seq per req ms", (time.perf_counter() - t) / 500 * 1000)
    set_traffic(served.client.store, MODEL, "production", canary=2, canary_weight=20, actor="t")
    for opts in (ServeOptions(batch_wait=0), ServeOptions()):
        runtime = Runtime(served.client.registry, MODEL, "production", poll_interval=3600)
        runtime.refresh()
        asgi = create_app(runtime, opts)
        async def main():
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://t") as c:
                sem = asyncio.Semaphore(64)
                async def one():
                    async with sem:
                        r = await c.post("/predict", json=body)
                        return r.json()["version"]
                return await asyncio.gather(*(one() for _ in range(2000)))
        t = time.perf_counter()
        vs = asyncio.run(main())
        print(opts.batch_wait, "asgi conc per req ms", (time.perf_counter() - t) / 2000 * 1000, vs.count(2))
