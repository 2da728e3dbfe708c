import json
from pathlib import Path
import engine.scripting
from tests.conftest import DATA, Api
R = DATA / "runtime"

def test_explore(api: Api, monkeypatch) -> None:
    for f in R.glob("*.bpmn"):
        a = api.deploy(f)
    c = api.post("/api/process-instances", None, json={"process_id": "gateway_error"})
    print(api.get("/api/incidents").json())
    a = api.start("vacancy_case", {"vacancy_id": "V-77"})
    r = api.post("/api/messages", None, json={"name": "vacancy_filled", "correlation": {"vacancy_id": "V-77"}, "payload": {"hired": "Aino"}})
    print(r.status_code, r.text)
    print(api.get(f"/api/process-instances/{a['id']}").json()["data"])
    print([ (e["type"], e["element_id"], e["data"]) for e in api.get(f"/api/process-instances/{a['id']}/history").json()["events"]])
    r = api.post("/api/messages", None, json={"name": "vacancy_filled", "correlation": {"vacancy_id": "V-99"}, "payload": {"hired": "Eino"}})
    print(r.status_code, r.text)
    inc = api.get("/api/incidents").json()
    print(inc)
    b = api.start("vacancy_case", {"vacancy_id": "V-99"})
    r = api.post(f"/api/incidents/{inc[0]['id']}/retry", None)
    print(r.status_code, r.text)
    print(api.get(f"/api/process-instances/{b['id']}").json()["data"])
    r = api.post("/api/messages", None, json={"name": "application_received", "payload": {"applicant": "Aino"}})
    print(r.status_code, r.text)
    print(api.get(f"/api/process-instances/{r.json()['delivered_to'][0]}").json())
    c = api.start("vacancy_case", {"vacancy_id": "V-55"})
    t = api.start("vacancy_filler_end", {"vacancy_id": "V-55", "hired": "Liisa"})
    print(t)
    print(api.get(f"/api/process-instances/{c['id']}").json()["data"])
    calls = []
    def flaky(applicant):
        calls.append(applicant)
        if len(calls) == 1:
            raise RuntimeError("service down")
        return {"ok": applicant}
    monkeypatch.setitem(engine.scripting._service_operations, "flaky", flaky)
    f = api.start("flaky_service", {"applicant": "Aino"})
    print(f)
    inc = api.get("/api/incidents", params={"instance_id": f["id"]}).json()
    print(inc)
    r = api.post(f"/api/incidents/{inc[0]['id']}/retry", None)
    print(r.status_code, r.text)
    print(api.get(f"/api/process-instances/{f['id']}").json())
