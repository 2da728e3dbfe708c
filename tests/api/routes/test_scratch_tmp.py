import json
from pathlib import Path
from tests.conftest import DATA, Api
R = DATA / "runtime"

def test_explore(api: Api) -> None:
    for f in R.glob("*.bpmn"):
        a = api.deploy(f, expect=None)
        print(f.name, a.status_code, a.text[:300])
    c = api.start("script_error")
    print(c)
    [t] = c["ready_tasks"]
    r = api.complete(t["id"], {"divisor": 0}, expect=None)
    print(r.status_code, r.text)
    print(api.get("/api/incidents").json())
    c = api.start("gateway_error", expect=None) if False else api.post("/api/process-instances", None, json={"process_id": "gateway_error"})
    print(c.status_code, c.text)
    print(api.get("/api/incidents").json())
    a = api.start("vacancy_case", {"vacancy_id": "V-77"})
    b = api.start("vacancy_case", {"vacancy_id": "V-78"})
    print(a, b)
    r = api.post("/api/messages", None, json={"name": "vacancy_filled", "correlation": {"vacancy_id": "V-77"}, "payload": {"hired": "Aino", "vacancy_id": "V-77"}})
    print(r.status_code, r.text)
    print(api.get(f"/api/process-instances/{a['id']}").json())
    print(api.get(f"/api/process-instances/{b['id']}").json())
