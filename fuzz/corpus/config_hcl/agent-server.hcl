node_name = "s1"
datacenter = "dc2"
primary_datacenter = "dc1"
data_dir = "/tmp/meshfed"
server = true
bootstrap_expect = 1
bind_addr = "10.0.0.1"
advertise_addr_wan = "198.18.0.21"
ports { server = 8300 serf_wan = 8302 http = -1 }
encrypt = "rGIPt7bScsbddgm1QvL24tsgJygmi9DQG2xKkVWiAnA="
primary_gateways = ["198.18.0.11:8443"]
primary_gateways_interval = "30s"
connect { enabled = true enable_mesh_gateway_wan_federation = true }
tls { defaults { ca_file = "ca.pem" cert_file = "s.pem" key_file = "s-key.pem" verify_incoming = true } }
gossip_wan { gossip_interval = "200ms" probe_timeout = "500ms" }
retry_join_wan = <<EOT
x
EOT
