# hash comment
// slash comment
/* block
   comment over
   lines */
a = 1 # trailing hash
b = 2 // trailing slashes
c /* inside */ = /* more */ 3
d = [
  1, # one
  2, // two
  /* three */ 3,
]
e {
  # only a comment in here
}
f = "# not a comment // nor this /* nor this */"
/* a comment with "quotes" and { braces } */
g = true
