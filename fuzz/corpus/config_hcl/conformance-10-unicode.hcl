greeting  = "héllo wörld"
cjk       = "中文配置"
emoji     = "🚀 launch"
"ключ"    = "значение"
naïve     = true
node_meta {
  "城市" = "東京"
  étage   = 3
}
