# a comment
0 15 0 trailing
PERIODICITY 20
