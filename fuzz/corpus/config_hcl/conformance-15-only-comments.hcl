# nothing here
// still nothing
/* at all */
