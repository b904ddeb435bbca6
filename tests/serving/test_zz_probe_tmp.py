from .conftest import MODEL, AppFactory, Served
from mlrelease.serving.app import ServeOptions

def test_probe(served: Served, make_app: AppFactory) -> None:
    import logging; logging.basicConfig()
    app = make_app(options=ServeOptions(batch_wait=0))
    for body in ({"features": [1e308]*30}, {"features": [-1e308]*30}, {"features": [1e308, -1e308]*15}, {"features":[1e200]*30}):
        r = app.post("/predict", json=body)
        print(r.status_code, r.text[:300])
    rows = [[1e308]*30]
    r = app.post(f"/v2/models/{MODEL}/infer", json={"inputs":[{"name":"x","shape":[1,30],"datatype":"FP64","data":rows}]})
    print(r.status_code, r.text[:400])
    app.predlog.flush()
    print(app.predlog.stats())
