bootstrap_expect = 09
