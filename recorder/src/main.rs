use mlx_rs::Array;
fn main() {
    let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
    let b = a.matmul(&a).unwrap();
    b.eval().unwrap();
    println!("{:?} mlx {}", b.as_slice::<f32>(), mlx_sys::MLX_VERSION);
}
