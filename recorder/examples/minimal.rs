use mlx_record::api::{self, Cost, Mark, Mode, Probe, Recorder, Schedule, Shape};
use mlx_record::api::DType;
use mlx_rs::{Array, ops::tanh, random::normal};

/// The model's forward, each component marked on the probe: name, block index, optional cost.
fn forward(x: &Array, weights: &[Array], probe: &mut Probe) -> anyhow::Result<Array> {
    let mut x = x.clone();
    for (i, w) in weights.iter().enumerate() {
        let (rows, k, n) = (x.shape()[0] as f64, x.shape()[1] as f64, w.shape()[1] as f64);
        let cost = Cost { flops: 2.0 * rows * k * n, bytes: 4.0 * (rows * k + k * n + rows * n) };
        let h = probe.mark_with_cost("layer/mlp/up", Some(i as u32), cost, || Ok(x.matmul(w)?))?;
        x = probe.mark("layer/mlp/act", Some(i as u32), || Ok(x.add(tanh(&h)?)?))?;
    }
    Ok(x)
}

fn main() -> anyhow::Result<()> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "my-model.msgpack".into());
    let x = normal::<f32>(&[256, 512], None, None, None)?;
    let weights = (0..4).map(|_| normal::<f32>(&[512, 512], None, 0.05, None)).collect::<Result<Vec<_>, _>>()?;
    let mut rec = Recorder::create(&out, api::metadata("my-model", DType::F32))?;
    rec.calibrate()?;
    let schedule = Schedule { modes: vec![Mode::None, Mode::Attributed, Mode::Component], ..Schedule::default() };
    rec.record(&Shape::new(256), &schedule, |probe| forward(&x, &weights, probe))?;
    println!("{}", rec.finish()?.display());
    Ok(())
}
