matrix   = [[1, 2], [3, 4], []]
deep     = [[[1]], [[2, [3]]]]
mixed    = [1, "two", 3.0, true, [false], {k = "v"}]
no_comma = [[1] [2]]
commas   = [1,, 2, ,]
empty    = []
trailing = ["a", "b",]
multi = [
  "x",
  "y",
]
