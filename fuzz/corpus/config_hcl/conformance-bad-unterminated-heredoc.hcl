script = <<EOT
echo hi
EOF
