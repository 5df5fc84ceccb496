"""Dynamic memory: on sizes and VMs (taken from the create body or else from the size), its 400s, the
startup memory that quotas and placement count, the bounds a host is given, and the assigned memory a
running dynamic-memory VM reports below its startup memory."""
from harness import Agent, err, ok, uid, wait_for, wait_job
from simhosts import sim_vms
from test_vms import VmWorld

DYN = {"enabled": True, "minimumMB": 512, "maximumMB": 4096}


def dyn_world(d, hosts=("sim://",), quotas=None, capacity=None):
    """A VmWorld whose plan also offers a size with dynamic memory (w.dyn: 2048 MB at startup)."""
    w = VmWorld(d, hosts=hosts, quotas=quotas, capacity=capacity)
    w.dyn = "D" + uid()[:6]
    size = ok(w.a.post("/v1/admin/sizes", {"name": w.dyn, "cores": 1, "memoryMB": 2048,
                                           "dynamicMemory": DYN}), 201)
    assert size["dynamicMemory"] == DYN
    ok(w.a.patch("/v1/admin/plans/" + w.plan["id"],
                 {"sizeNames": [w.small, w.medium, w.dyn]}), 202)
    wait_for(lambda: any(s["name"] == w.dyn for s in ok(w.t.get(w.base + "/sizes"), 200)["value"]),
             what="the plan to offer the new size")
    return w


def test_size_dynamic_memory_shown_and_checked(d):
    a = d.admin()
    name = "DS" + uid()[:6]
    size = ok(a.post("/v1/admin/sizes", {"name": name, "cores": 2, "memoryMB": 2048, "dynamicMemory": DYN}),
              201)
    assert size["dynamicMemory"] == DYN
    assert ok(a.get("/v1/admin/sizes/" + size["id"]), 200)["dynamicMemory"] == DYN
    listed = [s for s in ok(a.get("/v1/admin/sizes?limit=1000"), 200)["value"] if s["name"] == name]
    assert listed and listed[0]["dynamicMemory"] == DYN
    # Without it, or disabled (its bounds ignored, shown null).
    plain = ok(a.post("/v1/admin/sizes", {"name": "P" + uid()[:6], "cores": 1, "memoryMB": 1024}), 201)
    assert plain["dynamicMemory"] is None
    off = ok(a.post("/v1/admin/sizes", {"name": "O" + uid()[:6], "cores": 1, "memoryMB": 1024,
                                        "dynamicMemory": {"enabled": False, "minimumMB": 9999}}), 201)
    assert off["dynamicMemory"] == {"enabled": False, "minimumMB": None, "maximumMB": None}
    # The bounds must hold the startup memory; each refusal names its field.
    body = {"name": "X" + uid()[:6], "cores": 1, "memoryMB": 1024}
    for dyn, target in (({"enabled": True, "minimumMB": 2048, "maximumMB": 4096}, "dynamicMemory.minimumMB"),
                        ({"enabled": True, "minimumMB": 512, "maximumMB": 768}, "dynamicMemory.maximumMB"),
                        ({"enabled": True, "maximumMB": 4096}, "dynamicMemory.minimumMB"),
                        ({"enabled": True, "minimumMB": 512}, "dynamicMemory.maximumMB"),
                        ({"minimumMB": 512, "maximumMB": 4096}, "dynamicMemory.enabled"),
                        ({"enabled": True, "minimumMB": 0, "maximumMB": 4096}, "dynamicMemory.minimumMB"),
                        ({"enabled": True, "minimumMB": 512, "maximumMB": 4096, "x": 1}, "dynamicMemory.x"),
                        (5, "dynamicMemory")):
        err(a.post("/v1/admin/sizes", dict(body, dynamicMemory=dyn)), 400, "InvalidRequest", target)
    assert not [s for s in ok(a.get("/v1/admin/sizes?limit=1000"), 200)["value"] if s["name"] == body["name"]]


def test_vm_inherits_or_overrides_and_host_gets_bounds(d):
    w = dyn_world(d)
    tenant_size = [s for s in ok(w.t.get(w.base + "/sizes"), 200)["value"] if s["name"] == w.dyn]
    assert tenant_size[0]["dynamicMemory"] == DYN
    inherited = w.create("inh", size=w.dyn)
    assert inherited["memoryMB"] == 2048 and inherited["dynamicMemory"] == DYN
    own = {"enabled": True, "minimumMB": 1024, "maximumMB": 2048}
    mine = w.create("own", size=w.dyn, dynamicMemory=own)
    assert mine["dynamicMemory"] == own
    static = w.create("static")
    assert static["dynamicMemory"] is None
    off = w.create("off", size=w.dyn, dynamicMemory={"enabled": False})
    assert off["dynamicMemory"] == {"enabled": False, "minimumMB": None, "maximumMB": None}
    # The list shows the same as a GET.
    listed = {v["id"]: v for v in ok(w.t.get(w.base + "/vms"), 200)["value"]}
    assert listed[mine["id"]]["dynamicMemory"] == own and listed[static["id"]]["dynamicMemory"] is None
    assert ok(w.a.get("/v1/admin/vms/" + inherited["id"]), 200)["dynamicMemory"] == DYN
    # The host was given the bounds (both 0: static memory).
    host = w.hosts[0]["id"]
    on_host = {v["vmId"]: v for v in sim_vms(d.state_dir, host).values()}
    assert (on_host[inherited["id"]]["memoryMinMB"], on_host[inherited["id"]]["memoryMaxMB"]) == (512, 4096)
    assert (on_host[mine["id"]]["memoryMinMB"], on_host[mine["id"]]["memoryMaxMB"]) == (1024, 2048)
    assert (on_host[static["id"]]["memoryMinMB"], on_host[static["id"]]["memoryMaxMB"]) == (0, 0)
    assert (on_host[off["id"]]["memoryMinMB"], on_host[off["id"]]["memoryMaxMB"]) == (0, 0)


def test_vm_create_refusals_name_their_field(d):
    w = dyn_world(d)
    for dyn, target in (({"enabled": True, "minimumMB": 2049, "maximumMB": 4096}, "dynamicMemory.minimumMB"),
                        ({"enabled": True, "minimumMB": 1024, "maximumMB": 800}, "dynamicMemory.minimumMB"),
                        ({"enabled": True, "minimumMB": 512, "maximumMB": 2047}, "dynamicMemory.maximumMB"),
                        ({"enabled": True, "minimumMB": 512, "maximumMB": 4096, "color": "red"},
                         "dynamicMemory.color"),
                        ({"enabled": "yes"}, "dynamicMemory.enabled")):
        err(w.t.post(w.base + "/vms", w.vm_body("bad", size=w.dyn, dynamicMemory=dyn)), 400, "InvalidRequest",
            target)
    # Against the size asked for: 1792 MB of the small size is below this minimum.
    err(w.t.post(w.base + "/vms", w.vm_body("bad", dynamicMemory={"enabled": True, "minimumMB": 2048,
                                                                  "maximumMB": 4096})),
        400, "InvalidRequest", "dynamicMemory.minimumMB")
    assert ok(w.t.get(w.base + "/vms"), 200)["value"] == []
    assert w.usage()["vms"] == 0


def test_quota_and_placement_count_startup_memory(d):
    # A memory quota that just fits the startup memory (2048), though the maximum is 4096.
    w = dyn_world(d, quotas={"memoryMB": 2048}, capacity={"cores": 8, "memoryMB": 2048, "storageGB": 500})
    vm = w.create("fits", size=w.dyn)
    assert w.usage()["memoryMB"] == 2048
    assert w.host()["allocated"]["memoryMB"] == 2048
    assert ok(w.a.get("/v1/admin/vms/" + vm["id"]), 200)["allocated"]["memoryMB"] == 2048
    # Nothing is left for another VM of the same size, whatever its minimum.
    err(w.t.post(w.base + "/vms", w.vm_body("more", size=w.dyn)), 409, "QuotaExceeded", "memoryMB")


def test_resize_takes_the_new_size_unless_the_vm_has_its_own(d):
    w = dyn_world(d)
    inherited = w.create("inh", size=w.dyn)
    own = {"enabled": True, "minimumMB": 1024, "maximumMB": 2048}
    mine = w.create("own", size=w.dyn, dynamicMemory=own)
    for vm in (inherited, mine):
        w.act(vm["id"], "stop")
    # A VM that took its size's dynamic memory takes the new size's (none).
    r = w.t.patch(w.base + "/vms/" + inherited["id"], {"size": w.small})
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    got = w.get(inherited["id"])
    assert got["size"] == w.small and got["memoryMB"] == 1792 and got["dynamicMemory"] is None
    # Its own is kept, and a size its bounds do not hold is refused, naming size.
    err(w.t.patch(w.base + "/vms/" + mine["id"], {"size": w.medium}), 400, "InvalidRequest", "size")
    r = w.t.patch(w.base + "/vms/" + mine["id"], {"size": w.small})
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    got = w.get(mine["id"])
    assert got["memoryMB"] == 1792 and got["dynamicMemory"] == own


def test_host_reports_assigned_memory_below_startup():
    """A wapd-agent whose simulated guests want half their startup memory: a running dynamic-memory VM is
    assigned that (within its bounds), a static one its memoryMB, a stopped one nothing."""
    from harness import Daemon
    agent = Agent(sim_uri="sim://?memoryDemand=0.5").start()
    d = Daemon().start()
    try:
        w = dyn_world(d, hosts=({"kind": "http", "uri": agent.uri, "token": agent.token},))
        dyn = w.create("dyn", size=w.dyn)
        low = w.create("low", size=w.dyn, dynamicMemory={"enabled": True, "minimumMB": 1536, "maximumMB": 4096})
        static = w.create("static")
        vms = agent.vms()
        assert vms[dyn["id"]]["assignedMemoryMB"] == 1024  # half of 2048
        assert vms[low["id"]]["assignedMemoryMB"] == 1536  # held at its minimum
        assert vms[static["id"]]["assignedMemoryMB"] == 1792
        w.act(dyn["id"], "stop")
        assert agent.vms()[dyn["id"]].get("assignedMemoryMB", 0) == 0
        # wapd keeps counting the startup memory.
        assert w.usage()["memoryMB"] == 2048 + 2048 + 1792
    finally:
        d.cleanup()
        agent.cleanup()
