//! Empty: this package only exists so that cargo unpacks mlx-sys 0.7.0 (see Cargo.toml).
