import sys

import mlx_trace as mt  # before mlx.core: on Linux it puts OpenBLAS under MLX's CPU matmul
import mlx.core as mx

weights = [mx.random.normal((512, 512)) * 0.05 for _ in range(4)]


@mt.component("layer/mlp/up", flops=lambda x, w: 2 * x.shape[0] * x.shape[1] * w.shape[1])
def up(x, w):
    return x @ w


def forward(x):
    for i, w in enumerate(weights):
        with mt.block(i):  # the components inside belong to block (layer) i
            h = up(x, w)
            x = mt.mark("layer/mlp/act", lambda x, h: x + mx.tanh(h), x, h)
    return x


out = sys.argv[1] if len(sys.argv) > 1 else "my-model.msgpack"
x = mx.random.normal((256, 512))
mx.eval(x, weights)
with mt.Recorder(out, model="my-model", dtype="f32", config={"dim": 512, "blocks": 4}) as rec:
    rec.calibrate()
    rec.record(lambda: forward(x), tokens=256, modes=("none", "attributed", "component"))
print(out)
