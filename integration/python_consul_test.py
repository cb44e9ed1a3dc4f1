#!/usr/bin/python3
"""Compatibility with Debian's python3-consul (0.7.1): two real `meshfed agent` servers (dc1,
dc2) joined over WAN, driven through the client library exactly as a Consul user would.

usage: python_consul_test.py MESHFED_BINARY
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import consul


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_agent(binary, root, node, dc, join=None):
    d = os.path.join(root, node)
    os.makedirs(d)
    ports = {"http": free_port(), "server": free_port(), "serf_wan": free_port()}
    cfg = (
        f'node_name = "{node}"\ndatacenter = "{dc}"\nserver = true\nbootstrap = true\n'
        f'bind_addr = "127.0.0.1"\ndata_dir = "{d}/data"\n'
        f'ports {{\n  http = {ports["http"]}\n  server = {ports["server"]}\n'
        f'  serf_wan = {ports["serf_wan"]}\n}}\n'
        'gossip_wan {\n  gossip_interval = "100ms"\n  probe_interval = "500ms"\n'
        '  probe_timeout = "250ms"\n  suspicion_mult = 3\n}\n'
    )
    if join:
        cfg += f'retry_join_wan = ["{join}"]\nretry_interval_wan = "1s"\n'
    with open(os.path.join(d, "server.hcl"), "w") as f:
        f.write(cfg)
    log = open(os.path.join(d, "agent.log"), "w")
    proc = subprocess.Popen([binary, "agent", "-config", os.path.join(d, "server.hcl")],
                            stdout=log, stderr=subprocess.STDOUT)
    return proc, ports, os.path.join(d, "agent.log")


def wait_for(what, fn, timeout=20):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # the agent may not be listening yet
            last = e
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def main():
    binary = sys.argv[1]
    root = tempfile.mkdtemp(prefix="meshfed-pyconsul-")
    procs = []
    logs = []
    try:
        p1, ports1, log1 = start_agent(binary, root, "s1", "dc1")
        procs.append(p1)
        logs.append(log1)
        p2, ports2, log2 = start_agent(binary, root, "s2", "dc2",
                                       join=f"127.0.0.1:{ports1['serf_wan']}")
        procs.append(p2)
        logs.append(log2)
        c1 = consul.Consul(host="127.0.0.1", port=ports1["http"])
        c2 = consul.Consul(host="127.0.0.1", port=ports2["http"])

        # status.leader(): this server's RPC address.
        leader = wait_for("dc1 leader", c1.status.leader)
        check(leader == f"127.0.0.1:{ports1['server']}", f"leader {leader!r}")

        # agent.members(wan=True): both servers, alive (serf status 1), Consul's fields.
        def both_members():
            ms = c1.agent.members(wan=True)
            alive = [m for m in ms if m["Status"] == 1]
            return ms if len(alive) == 2 else None

        members = wait_for("two WAN members", both_members)
        names = sorted(m["Name"] for m in members)
        check(names == ["s1.dc1", "s2.dc2"], f"members {names}")
        for m in members:
            for k in ("Addr", "Port", "Tags", "ProtocolMin", "ProtocolMax", "ProtocolCur",
                      "DelegateMin", "DelegateMax", "DelegateCur"):
                check(k in m, f"member field {k} missing: {m}")
            check(m["Tags"]["role"] == "consul", f"tags {m['Tags']}")

        # catalog.datacenters(): both, once the router knows dc2.
        dcs = wait_for("two datacenters",
                       lambda: (lambda d: d if sorted(d) == ["dc1", "dc2"] else None)(
                           c1.catalog.datacenters()))
        check(dcs[0] == "dc1", f"local datacenter first: {dcs}")

        # catalog.register(...) in dc2 through dc1's agent (forwarded RPC), then read it back.
        ok = c1.catalog.register("web-node", "10.0.0.5",
                                 service={"Service": "web", "ID": "web1", "Tags": ["v1"],
                                          "Port": 8080},
                                 check={"CheckID": "web-alive", "Name": "web alive",
                                        "Status": "passing", "ServiceID": "web1"},
                                 dc="dc2")
        check(ok is True, f"register returned {ok!r}")

        # catalog.services(dc=...): dc2's catalog via dc1, and dc2 directly.
        index, services = c1.catalog.services(dc="dc2")
        check(services.get("web") == ["v1"], f"dc2 services via dc1: {services}")
        check("consul" in services, f"dc2 services: {services}")
        check(int(index) > 0, f"index {index!r}")
        _, local = c1.catalog.services()
        check("web" not in local, f"dc1 must not have web: {local}")
        _, direct = c2.catalog.services()
        check(direct.get("web") == ["v1"], f"dc2 services: {direct}")

        # health.service(...): the instance with its check; passing filter keeps it.
        index, nodes = c2.health.service("web", passing=True)
        check(len(nodes) == 1, f"health nodes {nodes}")
        n = nodes[0]
        check(n["Node"]["Node"] == "web-node" and n["Service"]["ID"] == "web1", f"{n}")
        check(any(ch["CheckID"] == "web-alive" for ch in n["Checks"]), f"checks {n['Checks']}")
        _, via = c1.health.service("web", dc="dc2", tag="v1")
        check(len(via) == 1, f"health via dc1 {via}")

        # A blocking query through the library wakes on a change.
        index, _ = c2.catalog.services()
        t0 = time.time()
        import threading
        result = {}

        def block():
            result["r"] = c2.catalog.services(index=index, wait="20s")

        th = threading.Thread(target=block)
        th.start()
        time.sleep(0.3)
        c2.catalog.register("db-node", "10.0.0.6", service={"Service": "db"})
        th.join(25)
        new_index, svcs = result["r"]
        check(int(new_index) > int(index) and "db" in svcs, f"blocking result {result}")
        check(time.time() - t0 < 10, "blocking query took too long")

        # Unknown datacenter: Consul's 500 text surfaces as the library's exception.
        try:
            c1.catalog.services(dc="dc9")
            raise AssertionError("dc9 should fail")
        except consul.base.ConsulException as e:
            check("No path to datacenter" in str(e), f"dc9 error {e}")

        print("python-consul compatibility: OK")
        return 0
    except Exception:
        for lg in logs:
            print(f"---- {lg}", file=sys.stderr)
            with open(lg) as f:
                sys.stderr.write(f.read()[-4000:])
        raise
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
