# A complete WAN-federated secondary server, the shape meshfed is configured with.
datacenter         = "dc2"
primary_datacenter = "dc1"
primary_gateways   = ["10.0.0.10:8443", "10.0.0.11:8443"]
data_dir           = "/var/lib/meshfed"
node_name          = "server-1"
server             = true
bootstrap_expect   = 3
bind_addr          = "10.0.2.1"
advertise_addr_wan = "203.0.113.7"
log_level          = "INFO"
encrypt            = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="

connect {
  enabled                            = true
  enable_mesh_gateway_wan_federation = true
}

ports {
  server   = 8300
  serf_wan = 8302
  https    = -1
  grpc     = 8502
}

tls {
  defaults {
    ca_file         = "/etc/meshfed/ca.pem"
    cert_file       = "/etc/meshfed/server.pem"
    key_file        = "/etc/meshfed/server-key.pem"
    verify_incoming = true
    verify_outgoing = true
    tls_min_version = "TLSv1_2"
  }
  internal_rpc {
    verify_server_hostname = true
  }
}

gossip_wan {
  gossip_nodes    = 4
  gossip_interval = "500ms"
  probe_timeout   = "3s"
  probe_interval  = "5s"
  retransmit_mult = 4
  suspicion_mult  = 6
}

limits {
  rpc_max_conns_per_client  = 100
  rpc_handshake_timeout     = "5s"
  http_max_conns_per_client = 200
}

performance {
  raft_multiplier = 1
}
