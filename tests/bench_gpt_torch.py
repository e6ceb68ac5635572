"""bench_gpt_torch.py - the GPT training step of bench_step in PyTorch, on one
thread: d_model 128, 4 pre-LayerNorm blocks of 4-head causal attention and a
GELU (tanh) MLP of 512, seq_len 64, batch 32, 96 tokens, untied output
projection, Adam.  Prints the best milliseconds per step over several timed
repetitions, as bench_step does.  Run by tests/bench_gpt.sh."""
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

T, C, H, L, V, B = 64, 128, 4, 4, 96, 32


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.qkv, self.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.fc, self.fc2 = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)
        self.register_buffer("mask", torch.tril(torch.ones(T, T)).bool())

    def forward(self, x):
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        s = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
        p = F.softmax(s.masked_fill(~self.mask, float("-inf")), dim=-1)
        y = (p @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.proj(y)
        return x + self.fc2(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.lnf, self.head = nn.LayerNorm(C), nn.Linear(C, V)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.blocks:
            x = b(x)
        return self.head(self.lnf(x))


def main():
    torch.set_num_threads(1)
    torch.manual_seed(1)
    model = Gpt()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    x = torch.randint(0, V, (B, T))
    y = torch.randint(0, V, (B, T))

    def step():
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(x).view(-1, V), y.view(-1))
        loss.backward()
        opt.step()

    step()
    best = 1e30
    for _ in range(7):
        n, t0 = 0, time.perf_counter()
        while True:
            step()
            n += 1
            t = time.perf_counter() - t0
            if t >= 0.5:
                break
        best = min(best, t / n)
    params = sum(p.numel() for p in model.parameters())
    print(f"  pytorch {torch.__version__}, 1 thread: gpt step {best * 1e3:.3f} ms "
          f"({params} parameters)")


main()
