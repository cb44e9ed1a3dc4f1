datacenter = "dc1"
ports {
  server = 8300
}
script = <<EOT
echo hi
EOT
