/// A backend that keeps its pages in an order of coldness and can ask its frontend to take pages back
/// (zswap's writeback of least-recently-stored pages to the swap device; frontswap's self-shrink).
///
/// The backend never writes to a device itself: it does not know where a page belongs. It says how many
/// pages it wants gone (``writebackWanted``) and which are coldest (``coldestKeys(limit:)``); the
/// frontend that owns the keys (frontswap) repatriates them to their backing devices, outside its own
/// locks, and reports each with ``didWriteBack(_:)``. ``Frontswap/shrink(toPages:)`` uses the same order.
public protocol WritebackSource: Backend {
    /// How many pages the backend wants repatriated now: 0 normally; more after it passed its limit,
    /// until it is back under its accept threshold. Cheap to read (one atomic load).
    var writebackWanted: Int { get }

    /// Up to `limit` keys of persistent pools, least recently stored first.
    ///
    /// - Parameter limit: The most keys to return.
    /// - Returns: A snapshot; a key may be flushed or stored again before the caller acts on it.
    func coldestKeys(limit: Int) -> [Key]

    /// Tells the backend a page it held was written back to a device and then flushed (counted in its
    /// `written_back_pages`).
    ///
    /// - Parameter key: The page's key.
    func didWriteBack(_ key: Key)
}
