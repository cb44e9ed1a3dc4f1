datacenter = "dc1"
script = <<EOT
echo hi
EOT