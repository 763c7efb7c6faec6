fn main() {
    eprintln!("qemu-runner: not yet implemented");
    std::process::exit(2);
}
