# styles.gp - what the other scripts share, so that a picture stays
# readable with many curves: a style per curve (ten colours, then dash
# types, with point types of their own: distinct past 30 curves), a key
# font that shrinks as the key grows, and tick labels at powers of two
# written 1/4, 1/2, 1, 2, 4.  Loaded by sweep.gp and curves.gp.

palette = "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf"
color(i) = word(palette, i % 10 + 1)
dash(i) = (i / 10) % 5 + 1
points(i) = i % 13 + 1
keyfont(n) = n > 40 ? "Sans,8" : n > 14 ? "Sans,10" : "Sans,12"
pow2(k) = k < 0 ? sprintf("1/%d", 2**(-k)) : sprintf("%d", 2**k)
