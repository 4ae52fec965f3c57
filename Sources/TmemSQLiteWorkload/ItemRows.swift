import Tmem
import TmemSQLite

/// The rows of the SQLite workloads (`tmem cache-demo`, `Benchmarks/cleancache-vs-pagecache`): an
/// order-like table whose every row is a pure function of its id, so a query's result is checked
/// without a second copy of the data.
///
/// `items(id INTEGER PRIMARY KEY, name TEXT UNIQUE-by-construction, city TEXT, qty INTEGER, note TEXT)`
/// with an index on `name`; `note` is 20 to 60 words of English-like text with numbers in it, so pages
/// compress the way text rows do (about 2x with LZ4), not like zeros.
public enum ItemRows {
    public static let schema = "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL, qty INTEGER NOT NULL, note TEXT NOT NULL)"
    public static let index = "CREATE INDEX items_name ON items(name)"

    /// Bytes a row takes in the file, roughly (for sizing a database to a target).
    public static let approximateRowBytes = 330

    public struct Row: Equatable, Sendable {
        public let id: Int
        public let name: String
        public let city: String
        public let qty: Int
        public let note: String
    }

    /// Row `id`.
    public static func row(_ id: Int) -> Row {
        var rng = SeededGenerator(seed: UInt64(id) &* 0x9E37_79B9_7F4A_7C15 &+ 0x5EED)
        let name = words[Int(rng.next() % UInt64(words.count))] + "-" + words[Int(rng.next() % UInt64(words.count))] + "-" + String(id, radix: 36)
        let city = cities[Int(rng.next() % UInt64(cities.count))]
        let qty = Int(rng.next() % 10_000)
        var note = "order \(100_000 + id) for \(city):"
        for i in 0..<(20 + Int(rng.next() % 41)) {
            note += " "
            if i % 9 == 8 { note += String(rng.next() % 100_000) } else { note += words[Int(rng.next() % UInt64(words.count))] }
        }
        return Row(id: id, name: name, city: city, qty: qty, note: note)
    }

    /// Creates `path` with rows 0..<count and the index (through the default VFS, journal off while
    /// building: a failed build leaves a file to delete, not to trust).
    public static func build(_ path: String, count: Int) throws(SQLiteError) {
        let db = try SQLiteDatabase(path: path)
        try db.execute("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536; \(schema);")
        let insert = try db.prepare("INSERT INTO items VALUES(?1, ?2, ?3, ?4, ?5)")
        var id = 0
        while id < count {
            try db.execute("BEGIN")
            for _ in 0..<min(50_000, count - id) {
                let r = row(id)
                try insert.bind([.integer(Int64(id)), .text(r.name), .text(r.city), .integer(Int64(r.qty)), .text(r.note)])
                _ = try insert.next()
                id += 1
            }
            try db.execute("COMMIT")
        }
        try db.execute("\(index); PRAGMA journal_mode=DELETE;")
    }

    static let cities = [
        "Lisbon", "Porto", "Madrid", "Seville", "Lyon", "Paris", "Berlin", "Hamburg", "Munich", "Vienna", "Prague",
        "Warsaw", "Oslo", "Bergen", "Helsinki", "Tallinn", "Riga", "Dublin", "Cork", "Glasgow", "Leeds", "Turin",
        "Milan", "Naples", "Athens", "Sofia", "Zagreb", "Ghent", "Utrecht", "Basel", "Geneva", "Krakow",
    ]

    static let words = """
        the of and to in is was that for on with as by at from his her they this have not are but had which one \
        were all been when there can more if out so said what up its about into than them only other new some \
        could time these two may then do first any my now such like our over man me even most made after also \
        did many before must through back years where much your way well down should because each just those \
        people how too little state good very make world still own see men work long get here between both life \
        being under never day same another know while last might us great old year off come since against go \
        came right used take three small large order shipped delivered pending invoice payment credit account \
        customer supplier warehouse parcel pallet carton fragile express standard priority return refund \
        discount coupon voucher balance total subtotal tax shipping handling address street avenue road lane \
        north south east west central harbour market station bridge garden river valley hill park square
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
}
