datacenter = "dc1"
ports {
  server = 8300

log_level = "INFO"
