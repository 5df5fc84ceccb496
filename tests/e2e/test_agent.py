"""wapd-agent, the host daemon: token auth, bad input that changes nothing, idempotent writes by
Operation-Id, create keyed by the wapd VM id, every VM call of the protocol, and a restart (kill -9 and
SIGTERM) on the same state dir that keeps port, token, VMs and answers; and through wapd, a snapshot on a
wapd-agent host copied to another cloud's wapd-agent host, its progress advancing and the copy going on
across a kill -9 of wapd.

Each test starts its own agent (build/wapd-agent beside WAPD_BIN, or WAPD_AGENT_BIN) on port 0 with a
temporary state dir, reads its port from agent.json by polling, and kills it in a finally block.
"""
import os
import shutil
import stat
import subprocess
import tempfile
import uuid

from harness import AGENT_BIN, SLOW, Agent, Daemon, err, ok, raw_exchange, uid, wait_for, wait_job
from test_vms import VmWorld

def spec(vm_id=None, name="vm-1", cores=1, memory=1024):
    return {"id": vm_id or str(uuid.uuid4()), "name": name, "cores": cores, "memoryMB": memory,
            "dynamicMemory": None, "generation": 2,
            "disks": [{"lun": None, "sizeGB": 40, "caching": "ReadWrite", "imageId": "img-1",
                       "volumeId": None}],
            "nics": [{"networkId": "net-1", "macAddress": "00:15:5d:00:00:01", "ipAddress": "10.0.0.5"}]}


def write(c, method, path, body=None, op=None, expect=200):
    """A write with an Operation-Id, polled while it answers 202 (a long operation), checked for expect."""
    op = op or "op-" + uuid.uuid4().hex
    hdrs = {"Operation-Id": op}

    def final():
        r = c.request(method, path, body=body, headers=hdrs)
        if r.status == 202:
            assert "bytesTotal" in r.json()["progress"], r
            return None
        return r
    r = wait_for(final, 60, "%s %s to finish" % (method, path))
    assert r.status == expect, (method, path, r)
    return r


def vms(c):
    r = c.get("/v1/vms")
    assert r.status == 200, r
    return sorted(r.json()["value"], key=lambda v: v["hypervisorId"])


def vm(c, hyp):
    r = c.get("/v1/vms/" + hyp)
    assert r.status == 200, r
    return r.json()


def error_code(r, status, code):
    assert r.status == status, r
    assert r.json()["error"]["code"] == code, r
    assert r.json()["error"]["message"], r


def test_agent_token_and_bad_input_change_nothing():
    a = Agent().start()
    try:
        path = os.path.join(a.state_dir, "agent.token")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert len(a.token) == 64 and open(path).read() == a.token + "\n"
        c = a.client()
        hyp = write(c, "POST", "/v1/vms", spec()).json()["hypervisorId"]
        before = vms(c)
        op = {"Operation-Id": "bad-" + uuid.uuid4().hex}  # for calls refused before the backend

        def fresh():  # for calls the backend answers (its answers are journaled by operation id)
            return {"Operation-Id": "bad-" + uuid.uuid4().hex}
        # No token, a wrong one, another scheme: 401 with nothing done.
        for tok in ("", "wrong", a.token + "x"):
            r = a.client(token=tok).request("POST", "/v1/vms/%s/start" % hyp, headers=op)
            error_code(r, 401, "Unauthorized")
            assert r.header("WWW-Authenticate") == "Bearer"
        r = c.request("GET", "/v1/vms", headers={"Authorization": "Basic " + a.token})
        assert r.status == 401, r
        # Malformed JSON, a body that is not an object, an unknown field, a missing one.
        error_code(c.request("POST", "/v1/vms", raw=b"{\"id\": ", headers=op), 400, "BadRequest")
        error_code(c.request("POST", "/v1/vms", raw=b"[1]", headers=op), 400, "BadRequest")
        error_code(c.request("POST", "/v1/vms", body=dict(spec(), color="red"), headers=op), 400,
                   "BadRequest")
        bad = spec()
        del bad["cores"]
        r = c.request("POST", "/v1/vms", body=bad, headers=op)
        error_code(r, 400, "BadRequest")
        assert "cores" in r.json()["error"]["message"]
        error_code(c.request("POST", "/v1/vms/%s/resize" % hyp, body={"cores": 0, "memoryMB": 1},
                             headers=op), 400, "BadRequest")
        error_code(c.request("POST", "/v1/vms/%s/start" % hyp, body={"x": 1}, headers=op), 400,
                   "BadRequest")
        # Writes without an Operation-Id, or with a malformed one.
        error_code(c.post("/v1/vms", spec()), 400, "BadRequest")
        error_code(c.post("/v1/vms/%s/start" % hyp), 400, "BadRequest")
        error_code(c.post("/v1/vms/%s/start" % hyp, headers={"Operation-Id": "a b"}), 400, "BadRequest")
        error_code(c.post("/v1/vms/%s/start" % hyp, headers={"Operation-Id": "x" * 65}), 400,
                   "BadRequest")
        error_code(c.post("/v1/vms/%s/start" % hyp, headers=dict(op, **{"Request-Timeout-Ms": "0"})),
                   400, "BadRequest")
        # Unknown VM, disk lun, checkpoint and path; a method the path does not take.
        error_code(c.get("/v1/vms/no-such-vm"), 404, "NotFound")
        error_code(c.post("/v1/vms/no-such-vm/start", headers=fresh()), 404, "NotFound")
        error_code(c.request("DELETE", "/v1/vms/no-such-vm", headers=fresh()), 404, "NotFound")
        error_code(c.request("DELETE", "/v1/vms/%s/disks/99" % hyp, headers=fresh()), 404, "NotFound")
        error_code(c.post("/v1/vms/%s/checkpoints/nope/restore" % hyp, headers=fresh()), 404, "NotFound")
        error_code(c.get("/v1/nothing"), 404, "NotFound")
        r = c.request("PATCH", "/v1/vms/" + hyp, body={}, headers=op)
        error_code(r, 405, "MethodNotAllowed")
        assert "GET" in r.header("Allow") and "DELETE" in r.header("Allow")
        # A body over 64 KiB: 413, refused on its headers.
        big = b"{\"name\": \"" + b"x" * (70 * 1024) + b"\"}"
        out = raw_exchange(a.port, b"POST /v1/vms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                           a.token.encode() + b"\r\nOperation-Id: big\r\nContent-Type: application/json\r\n"
                           b"Content-Length: " + str(len(big)).encode() + b"\r\n\r\n" + big)
        assert out.startswith(b"HTTP/1.1 413"), out[:200]
        assert vms(c) == before
        assert a.token not in a.stderr()
    finally:
        a.cleanup()


def test_agent_volume_and_import_bad_input_changes_nothing():
    """The snapshot, copy, delete and import paths refuse malformed bodies and paths before the backend."""
    a = Agent().start()
    try:
        c = a.client()
        hyp = write(c, "POST", "/v1/vms", spec()).json()["hypervisorId"]
        before = vms(c)

        def op():
            return {"Operation-Id": "bad-" + uuid.uuid4().hex}

        def refused(method, path, body, field, status=400):
            r = c.request(method, path, body=body, headers=op())
            error_code(r, status, "BadRequest" if status == 400 else "NotFound")
            assert field in r.json()["error"]["message"], (path, body, r.json())
        snap = "/v1/vms/%s/disks/os/snapshot" % hyp
        refused("POST", snap, {}, "volumeId")
        refused("POST", snap, {"volumeId": ""}, "volumeId")
        refused("POST", snap, {"volumeId": "a b"}, "volumeId")
        refused("POST", snap, {"volumeId": "v" * 64}, "volumeId")
        refused("POST", snap, {"volumeId": "v", "lun": 0}, "lun")
        refused("POST", "/v1/vms/%s/disks/64/snapshot" % hyp, {"volumeId": "v"}, "64", 404)
        refused("POST", "/v1/vms/%s/disks/OS/snapshot" % hyp, {"volumeId": "v"}, "OS", 404)
        src = {"hostId": "h", "volumeId": "v", "sizeGB": 1}
        refused("PUT", "/v1/volumes/vol-1", {}, "source")
        refused("PUT", "/v1/volumes/vol-1", {"source": dict(src, sizeGB=0)}, "source.sizeGB")
        refused("PUT", "/v1/volumes/vol-1", {"source": dict(src, volumeId="a/b")}, "source.volumeId")
        refused("PUT", "/v1/volumes/vol-1", {"source": dict(src, extra=1)}, "source.extra")
        refused("PUT", "/v1/volumes/vol-1", {"source": src, "extra": 1}, "extra")
        error_code(c.request("PUT", "/v1/volumes/vol-1", body={"source": src}), 400, "BadRequest")
        source = {"hostId": "h", "hypervisorId": "hv", "powerState": "running", "checkpoints": []}
        refused("POST", "/v1/vms/import", spec(), "source")
        refused("POST", "/v1/vms/import", dict(spec(), source=dict(source, powerState="unknown")),
                "source.powerState")
        refused("POST", "/v1/vms/import", dict(spec(), source=dict(source, checkpoints=["a", "a"])),
                "twice")
        refused("POST", "/v1/vms/import", dict(spec(), source=dict(source, checkpoints=["a"] * 5)),
                "source.checkpoints")
        refused("POST", "/v1/vms/import", dict(spec(), cores=0, source=source), "cores")
        r = c.request("GET", "/v1/volumes/vol-1")
        error_code(r, 405, "MethodNotAllowed")
        assert "PUT" in r.header("Allow") and "DELETE" in r.header("Allow")
        assert vms(c) == before
    finally:
        a.cleanup()


def test_agent_operation_id_replays_and_create_is_keyed_by_vm_id():
    a = Agent().start()
    try:
        c = a.client()
        s = spec()
        first = write(c, "POST", "/v1/vms", s, op="create-1")
        hyp = first.json()["hypervisorId"]
        # The same id and body: the same answer, one VM.
        again = write(c, "POST", "/v1/vms", s, op="create-1")
        assert again.json() == first.json()
        assert [v["hypervisorId"] for v in vms(c)] == [hyp]
        listed = vms(c)[0]
        assert listed["id"] == s["id"] and listed["name"] == "vm-1" and listed["powerState"] == "stopped"
        # The same id with another body, or on another path: 409, nothing changed.
        before = vms(c)
        error_code(c.request("POST", "/v1/vms", body=dict(s, name="other"),
                             headers={"Operation-Id": "create-1"}), 409, "Conflict")
        error_code(c.request("POST", "/v1/vms", body=spec(), headers={"Operation-Id": "create-1"}),
                   409, "Conflict")
        error_code(c.post("/v1/vms/%s/start" % hyp, headers={"Operation-Id": "create-1"}), 409,
                   "Conflict")
        assert vms(c) == before
        # A new operation id for the same wapd VM id: the VM created before.
        third = write(c, "POST", "/v1/vms", s, op="create-2")
        assert third.json()["hypervisorId"] == hyp
        assert len(vms(c)) == 1
        # A power action repeated with its id answers as before and acts once.
        write(c, "POST", "/v1/vms/%s/start" % hyp, op="start-1")
        write(c, "POST", "/v1/vms/%s/stop" % hyp, op="stop-1")
        write(c, "POST", "/v1/vms/%s/start" % hyp, op="start-1")
        assert vm(c, hyp)["powerState"] == "stopped"
    finally:
        a.cleanup()


def test_agent_every_vm_call():
    a = Agent().start()
    try:
        c = a.client()
        host = c.get("/v1/host")
        assert host.status == 200, host
        h = host.json()
        assert h["name"] == "e2e-host" and h["backend"] == "sim" and h["version"]
        assert set(h["capacity"]) == {"cores", "memoryMB", "storageGB"}
        hyp = write(c, "POST", "/v1/vms", spec(cores=2, memory=2048)).json()["hypervisorId"]
        assert c.get("/v1/host").json()["vms"] == 1
        for action, state in (("start", "running"), ("restart", "running"), ("shutdown", "stopped"),
                              ("start", "running"), ("stop", "stopped"), ("start", "running"),
                              ("deallocate", "deallocated"), ("start", "running")):
            write(c, "POST", "/v1/vms/%s/%s" % (hyp, action), body={} if action == "stop" else None)
            assert vm(c, hyp)["powerState"] == state, (action, vm(c, hyp))
        write(c, "POST", "/v1/vms/%s/stop" % hyp)
        write(c, "POST", "/v1/vms/%s/resize" % hyp, {"cores": 4, "memoryMB": 4096})
        v = vm(c, hyp)
        assert (v["cores"], v["memoryMB"]) == (4, 4096), v
        write(c, "PUT", "/v1/vms/%s/disks/3" % hyp, {"sizeGB": 20, "caching": "None", "volumeId": None})
        assert {"lun": 3, "sizeGB": 20} in vm(c, hyp)["disks"], vm(c, hyp)
        write(c, "DELETE", "/v1/vms/%s/disks/3" % hyp)
        assert all(d["lun"] != 3 for d in vm(c, hyp)["disks"]), vm(c, hyp)
        cp = write(c, "POST", "/v1/vms/%s/checkpoints" % hyp, {"name": "before"}).json()["id"]
        assert vm(c, hyp)["checkpoints"][cp]["name"] == "before"
        # Keyed by name: a second create of the same name answers the same checkpoint.
        assert write(c, "POST", "/v1/vms/%s/checkpoints" % hyp, {"name": "before"}).json()["id"] == cp
        assert len(vm(c, hyp)["checkpoints"]) == 1
        write(c, "POST", "/v1/vms/%s/checkpoints/%s/restore" % (hyp, cp))
        write(c, "DELETE", "/v1/vms/%s/checkpoints/%s" % (hyp, cp))
        assert vm(c, hyp)["checkpoints"] == {}
        write(c, "DELETE", "/v1/vms/" + hyp)
        error_code(c.get("/v1/vms/" + hyp), 404, "NotFound")
        assert vms(c) == []
        write(c, "DELETE", "/v1/vms/" + hyp, expect=404)
    finally:
        a.cleanup()


def test_agent_restart_keeps_port_token_vms_and_answers():
    a = Agent().start()
    try:
        c = a.client()
        port, token = a.port, a.token
        s1 = spec(name="one")
        one = write(c, "POST", "/v1/vms", s1, op="c-1").json()["hypervisorId"]
        two = write(c, "POST", "/v1/vms", spec(name="two"), op="c-2").json()["hypervisorId"]
        write(c, "POST", "/v1/vms/%s/start" % one, op="s-1")
        write(c, "POST", "/v1/vms/%s/deallocate" % two, op="d-2")
        before = vms(c)
        states = {v["hypervisorId"]: v["powerState"] for v in before}
        assert states == {one: "running", two: "deallocated"}
        a.kill9()
        a.start()
        assert (a.port, a.token) == (port, token)
        c = a.client()
        assert vms(c) == before
        # A replayed Operation-Id answers as before and acts once.
        assert write(c, "POST", "/v1/vms", s1, op="c-1").json()["hypervisorId"] == one
        write(c, "POST", "/v1/vms/%s/start" % one, op="s-1")
        assert vms(c) == before
        assert a.stop() == 0
        a.start()
        assert (a.port, a.token) == (port, token)
        assert vms(a.client()) == before
        assert a.stop() == 0
    finally:
        a.cleanup()


def test_agent_options_token_file_and_refusals():
    d = tempfile.mkdtemp(prefix="wapd-agent-e2e-")
    a = None
    try:
        # A bad sim uri or a missing option stops the start with a message, before anything is written.
        for args in (["--sim-uri", "sim://?nosuchKey=1"], ["--backend", "vmware"], ["--token", "a", "--token-file", "b"]):
            res = subprocess.run([AGENT_BIN, "--listen", "127.0.0.1:0", "--state-dir", d] + args,
                                 capture_output=True, text=True, timeout=30 * SLOW)
            assert res.returncode != 0 and "wapd-agent" in res.stderr, (args, res)
            assert not os.path.exists(os.path.join(d, "agent.json")), args
        assert "nosuchKey" in subprocess.run([AGENT_BIN, "--listen", "127.0.0.1:0", "--state-dir", d, "--sim-uri",
                                              "sim://?nosuchKey=1"], capture_output=True, text=True,
                                             timeout=30 * SLOW).stderr
        # --token-file: that token and no other; no agent.token is generated.
        tf = os.path.join(d, "given.token")
        with open(tf, "w") as f:
            f.write("given-token-0123456789\n")
        a = Agent(state_dir=os.path.join(d, "state"), token_file=tf).start()
        assert a.token == "given-token-0123456789"
        assert a.client().get("/v1/vms").status == 200
        assert not os.path.exists(os.path.join(a.state_dir, "agent.token"))
        assert a.client(token="other").get("/v1/vms").status == 401
        assert a.stop() == 0
    finally:
        if a is not None:
            a.cleanup()
        shutil.rmtree(d, ignore_errors=True)


def test_agent_long_create_answers_202_with_progress_until_done():
    a = Agent(extra_args=["--sim-uri", "sim://?copyMBps=2048"]).start()
    try:
        c = a.client()
        s = spec()
        s["disks"][0]["sizeGB"] = 2
        hdrs = {"Operation-Id": "copy-1"}
        r = c.request("POST", "/v1/vms", body=s, headers=hdrs)
        assert r.status == 202, r
        body = r.json()
        assert body["status"] == "Running" and body["progress"]["bytesTotal"] == 2 << 30, body
        assert 0 <= body["progress"]["bytesCopied"] < 2 << 30, body
        done = wait_for(lambda: (lambda r: r if r.status != 202 else None)(
            c.request("POST", "/v1/vms", body=s, headers=hdrs)), 60, "the copy to finish")
        assert done.status == 200, done
        hyp = done.json()["hypervisorId"]
        assert [v["hypervisorId"] for v in vms(c)] == [hyp]
        # Done: the same create answers 200 from the journal, and with a new id from the VM's key.
        assert write(c, "POST", "/v1/vms", s, op="copy-1").json()["hypervisorId"] == hyp
        assert write(c, "POST", "/v1/vms", s).json()["hypervisorId"] == hyp
    finally:
        a.cleanup()


def test_agent_libvirt_backend_serves_the_same_protocol():
    a = Agent(extra_args=["--backend", "libvirt", "--libvirt-uri", "test:///default"]).start()
    try:
        c = a.client()
        assert c.get("/v1/host").json()["backend"] == "libvirt"
        # libvirt's test driver has one domain of its own: listed, with no wapd VM id.
        unmanaged = vms(c)
        assert unmanaged and all(v["id"] is None for v in unmanaged), unmanaged
        s = spec()
        hyp = write(c, "POST", "/v1/vms", s).json()["hypervisorId"]
        assert write(c, "POST", "/v1/vms", s).json()["hypervisorId"] == hyp
        mine = [v for v in vms(c) if v["id"] == s["id"]]
        assert [(v["hypervisorId"], v["powerState"]) for v in mine] == [(hyp, "stopped")], mine
        write(c, "POST", "/v1/vms/%s/start" % hyp)
        assert vm(c, hyp)["powerState"] == "running"
        assert a.stop() == 0
    finally:
        a.cleanup()


def test_snapshot_copy_between_agent_hosts_survives_kill9_of_wapd():
    """A snapshot of a VM on one wapd-agent host, copied to a wapd-agent host of a replica cloud that copies
    at 512 MB/s (4 GB: about 8 s): its bytes advance, wapd is killed with -9 in the middle, and after the
    restart the copy goes on where it was (the agent kept copying) and ends ready."""
    gib = 1 << 30
    agents = [Agent(name="agent-src").start(), Agent(name="agent-dst", sim_uri="sim://?copyMBps=512").start()]
    d = Daemon().start()
    try:
        w = VmWorld(d, hosts=({"kind": "http", "uri": agents[0].uri, "token": agents[0].token},))
        c2 = ok(w.a.post("/v1/admin/clouds", {"name": "c2-" + uid()[:6]}), 201)
        h2 = ok(w.a.post("/v1/admin/hosts", {
            "name": "dst", "cloudId": c2["id"],
            "agent": {"kind": "http", "uri": agents[1].uri, "token": agents[1].token},
            "capacity": {"cores": 64, "memoryMB": 262144, "storageGB": 10000}}), 201)
        r = w.a.patch("/v1/admin/plans/" + w.plan["id"], {"replicaCloudIds": [c2["id"]]})
        assert wait_job(w.a, r.header("Location"))["status"] == "succeeded"
        vm = w.create("cv", dataDisks=[{"sizeGB": 4, "lun": 0}])
        r = w.t.post(w.base + "/snapshots", {"name": "s", "vmId": vm["id"], "lun": 0})
        src = ok(r, 202)
        assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
        assert ok(w.t.get(w.base + "/snapshots/" + src["id"]), 200)["sizeGB"] == 4
        r = w.t.post(w.base + "/snapshots/%s/copy" % src["id"], {"cloudId": c2["id"]})
        copy = ok(r, 202)
        loc = r.header("Location")
        assert copy["state"] == "copying" and copy["copy"]["bytesTotal"] == 4 * gib, copy

        def copied():
            return ok(w.t.get(w.base + "/snapshots/" + copy["id"]), 200)["copy"]["bytesCopied"]
        wait_for(lambda: copied() >= gib // 2, 60, "an eighth of the copy")
        before = copied()
        d.kill9()
        d.start()
        w.t, w.a = d.tenant(w.token), d.admin()
        mid = ok(w.t.get(w.base + "/snapshots/" + copy["id"]), 200)
        assert mid["copy"]["bytesCopied"] >= before, (mid, before)
        done = wait_job(w.t, loc, 120)
        assert done["status"] == "succeeded", done
        assert done["copy"]["bytesCopied"] == done["copy"]["bytesTotal"] == 4 * gib, done
        end = ok(w.t.get(w.base + "/snapshots/" + copy["id"]), 200)
        assert end["state"] == "ready" and end["cloudId"] == c2["id"], end
        assert ok(w.a.get("/v1/admin/hosts/" + h2["id"]), 200)["allocated"]["storageGB"] == 4
        # The target agent keeps the copy under the snapshot's id (a copy of it there answers at once).
        c = agents[1].client()
        body = {"source": {"hostId": w.hosts[0]["id"], "volumeId": src["id"], "sizeGB": 4}}
        there = c.request("PUT", "/v1/volumes/" + copy["id"], body=body,
                          headers={"Operation-Id": "check-" + uid()})
        assert there.status == 200 and there.json()["progress"]["bytesCopied"] == 4 * gib, there
        # Under no lease now: the copy may go, and the agent's volume with it.
        r = w.t.delete(w.base + "/snapshots/" + copy["id"])
        assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
        err(w.t.get(w.base + "/snapshots/" + copy["id"]), 404, "NotFound")
        gone = c.request("DELETE", "/v1/volumes/" + copy["id"], headers={"Operation-Id": "check-" + uid()})
        error_code(gone, 404, "NotFound")
    finally:
        d.cleanup()
        for a in agents:
            a.cleanup()
