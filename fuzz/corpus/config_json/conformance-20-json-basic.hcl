{
  "datacenter": "dc2",
  "primary_datacenter": "dc1",
  "primary_gateways": ["10.0.0.10:8443", "10.0.0.11:8443"],
  "server": true,
  "bootstrap_expect": 3,
  "connect": {"enabled": true, "enable_mesh_gateway_wan_federation": true},
  "ports": {"server": 8300, "https": -1},
  "tls": {
    "defaults": {"ca_file": "x", "verify_incoming": true},
    "internal_rpc": {"verify_server_hostname": true}
  },
  "performance": {"raft_multiplier": 1.5},
  "empty": {},
  "nothing": []
}
