"""Sim hosts of a daemon on PostgreSQL, served by wapd-agents.

A store several daemons share refuses sim hosts (a simulator inside one daemon is one the others cannot see;
scale-out uses http and libvirt hosts). So that the modules `make e2e-pg` runs tell the same stories on
PostgreSQL, the admin client of a daemon on PostgreSQL (harness.Client) serves each sim host a test asks for
with a wapd-agent of its own: the same simulator behind HTTP, given the test's sim uri as --sim-uri (see
_sim_shim: the one place that translates). sim_vms and sim_vm_put follow such a host to the agent's log; on
SQLite they read and write the daemon's own simulator's log. A test that needs what only a sim host has (POST
/hosts/{id}/simulate) carries `test_x.sim_only = "why"` and is skipped there.

The harness imports this module, so harness.Agent is imported where it is used, once both are loaded;
_sim_agents_stop is run at exit by the harness.
"""
import json
import os


SIM_AGENTS = {}  # wapd host id -> the Agent serving that sim host of a daemon on PostgreSQL


def _sim_agent_try(agent):
    """Starts agent; False (and the agent stopped) when it does not come up, as when it refuses its uri."""
    try:
        agent.start(healthy=False)
        return True
    except AssertionError:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.proc.kill()
        if agent.proc is not None:
            agent.proc.wait(30)
            agent.err.close()
        return False


def _sim_agent_set_uri(agent, uri):
    args = agent.extra_args
    if "--sim-uri" in args:
        i = args.index("--sim-uri")
        del args[i:i + 2]
    agent.extra_args = args + ["--sim-uri", uri]


def _sim_agent_drop(agent):
    for hid in [h for h, a in SIM_AGENTS.items() if a is agent]:
        del SIM_AGENTS[hid]
    agent.cleanup()


def _sim_agents_stop():
    for agent in list(SIM_AGENTS.values()):
        agent.cleanup()
    SIM_AGENTS.clear()


def _sim_shim(d, method, path, body):
    """The one place where a sim host becomes an http host on PostgreSQL: (the body to send, a function of the
    response to call after it, or None). POST /v1/admin/hosts of a sim host starts a wapd-agent with the
    host's sim uri and asks for an http host at it; a PATCH of such a host's agent.uri to a sim uri restarts
    its agent with that uri (the agent keeps its port, token and VMs); its DELETE stops the agent. A sim uri
    the agent refuses goes to the daemon as the http host's uri, which it refuses as it would the sim uri (400
    naming agent.uri)."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if parts[:3] != ["v1", "admin", "hosts"] or len(parts) > 4:
        return body, None
    hid = parts[3] if len(parts) == 4 else None
    spec = body.get("agent") if isinstance(body, dict) else None
    if method == "POST" and hid is None and isinstance(spec, dict) and spec.get("kind") == "sim":
        uri = spec.get("uri") or "sim://"
        from harness import Agent  # not at the top: harness imports this module
        agent = Agent(name="e2e-sim", sim_uri=uri)
        if not _sim_agent_try(agent):
            agent.cleanup()
            return dict(body, agent=dict(spec, kind="http", uri=uri)), None

        def made(resp):
            if resp is not None and resp.status == 201:
                SIM_AGENTS[resp.json()["id"]] = agent
                d.sim_agents.append(agent)
            else:
                agent.cleanup()
        return dict(body, agent={"kind": "http", "uri": agent.uri, "token": agent.token}), made
    agent = SIM_AGENTS.get(hid)
    if agent is None:
        return body, None
    if method == "PATCH" and isinstance(spec, dict) and "uri" in spec and (spec["uri"] or "sim://").startswith(
            "sim://"):
        uri, old = spec["uri"] or "sim://", agent.extra_args[agent.extra_args.index("--sim-uri") + 1]
        agent.stop()
        _sim_agent_set_uri(agent, uri)
        if _sim_agent_try(agent):
            return dict(body, agent=dict(spec, uri=agent.uri)), None
        _sim_agent_set_uri(agent, old)
        agent.start(healthy=False)
        return body, None
    if method == "DELETE":
        def deleted(resp):
            if resp is not None and resp.status == 204:
                d.sim_agents.remove(agent)
                _sim_agent_drop(agent)
        return body, deleted
    return body, None


def _sim_log(state_dir, host_id):
    """A sim host's log and the agent that serves it (None: the daemon's own simulator, whose log is in its
    state dir). A wapd-agent's simulator is its host "agent"."""
    agent = SIM_AGENTS.get(host_id)
    if agent is not None:
        return os.path.join(agent.state_dir, "sim", "agent.log"), agent
    return os.path.join(state_dir, "sim", host_id + ".log"), None


def sim_vms(state_dir, host_id):
    """What a simulated host has, read from its log: {hypervisorId: vm} (the last line of an id wins; a
    deletion removes it; a torn last line is ignored)."""
    out = {}
    path, _ = _sim_log(state_dir, host_id)
    with open(path) if os.path.exists(path) else open(os.devnull) as f:
        for line in f:
            if not line.endswith("\n"):
                break
            vm = json.loads(line)
            if vm.get("deleted"):
                out.pop(vm["hypervisorId"], None)
            else:
                out[vm["hypervisorId"]] = vm
    return out


def sim_vm_put(state_dir, host_id, vm):
    """Changes a VM on a simulated host behind wapd's back (as someone on the host would): appends its
    record to the host's log. Only while nothing has the host open: a wapd-agent serving it (on PostgreSQL)
    is stopped for the write and started again."""
    path, agent = _sim_log(state_dir, host_id)
    if agent is not None:
        agent.stop()
    with open(path, "a") as f:
        f.write(json.dumps(vm, separators=(",", ":")) + "\n")
    if agent is not None:
        agent.start(healthy=False)
