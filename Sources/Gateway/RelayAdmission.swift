import SysGuard

/// What admission decided for one relayed client, kept by its session until it closes.
struct RelayAdmission: Sendable {
    /// The client's address as the per-IP table keys it.
    let address: AddressKey
    /// Counted in the per-IP table: released there on close.
    let holdsAddressSlot: Bool
    /// Allow-listed: the rate limits do not apply.
    let bypassLimits: Bool
    /// The client's port (for `show conns`).
    let peerPort: UInt16
}
