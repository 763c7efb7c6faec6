//! Linked at this board's load address (RAM base 0x40000000 + 2 MiB).
fn main() {
    halyard_link::at(0x4020_0000);
}
