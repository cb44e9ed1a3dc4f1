# Repeated unlabelled blocks become a list of objects, one per occurrence.
connect {
  enabled = true
}
connect {
  enable_mesh_gateway_wan_federation = true
}

limits { rpc_max_conns_per_client = 10 }
limits { rpc_max_conns_per_client = 20 }
limits { }

# Repeated attributes: the last scalar wins, lists are appended.
log_level = "DEBUG"
log_level = "INFO"
retry_join_wan = ["a"]
retry_join_wan = ["b", "c"]
