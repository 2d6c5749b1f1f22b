//! mlx-record: the LingBot-World DiT in mlx-rs, instrumented forward passes, trace writing.
