import Testing
import Tmem
@testable import TmemHost

/// Settings as people write them: capacities, client policies, CONFIGURE requests, /proc files.
struct ParsingTests {
    @Test(arguments: [
        ("512MiB", CapacitySetting.bytes(512 << 20)), ("2GiB", .bytes(2 << 30)), ("123456", .bytes(123_456)),
        ("25%", .percentOfRAM(25)), ("100%", .percentOfRAM(100)), ("auto", .auto(floorBytes: 64 << 20)),
        ("auto:1GiB", .auto(floorBytes: 1 << 30)), ("0", .bytes(0)),
    ])
    func capacitySettingsParse(text: String, expected: CapacitySetting) throws {
        #expect(try CapacitySetting.parse(text) == expected)
    }

    @Test(arguments: ["", "0%", "101%", "-5", "12XB", "auto:", "auto:lots", "%", "1.5GiB", "25 %"])
    func badCapacitySettingsAreClearErrors(text: String) {
        let error = #expect(throws: HostError.self) { try CapacitySetting.parse(text) }
        #expect(error?.isInvalidSetting == true)
        #expect(error?.message.contains("'\(text)'") == true, "the message quotes the input: \(error?.message ?? "")")
    }

    @Test func clientPoliciesParse() throws {
        let full = try ClientPolicy.parse("alice:weight=2,cap=1GiB")
        #expect(full.name == "alice" && full.policy == ClientPolicy(weight: 2, cap: 1 << 30))
        let capOnly = try ClientPolicy.parse("bob.example-1:cap=512MiB")
        #expect(capOnly.name == "bob.example-1" && capOnly.policy == ClientPolicy(weight: 1, cap: 512 << 20))
        #expect(try ClientPolicy.parse("carol:weight=5").policy == ClientPolicy(weight: 5))
        #expect(try ClientPolicy.parse("dave").policy == ClientPolicy())
        #expect(try ClientPolicy.parse("dave:").policy == ClientPolicy())
        #expect(try ClientPolicy.parse("(shared):weight=3").name == ClientPolicy.sharedClient)
        // Over a base: the parts left out keep their values.
        let base = ClientPolicy(weight: 4, cap: 1000)
        #expect(try ClientPolicy.parse("erin:cap=2000", over: base).policy == ClientPolicy(weight: 4, cap: 2000))
        #expect(try ClientPolicy.parse("erin:weight=1", over: base).policy == ClientPolicy(weight: 1, cap: 1000))
        #expect(try ClientPolicy.parse("erin:cap=none", over: base).policy == ClientPolicy(weight: 4, cap: nil))
    }

    @Test(arguments: [
        ":weight=2", "a b:weight=2", "alice:weight=0", "alice:weight=-1", "alice:weight=1000001", "alice:weight=x",
        "alice:cap=12XB", "alice:color=red", "alice:weight=2,weight=3", "alice:weight", "alice:weight=2,",
        String(repeating: "n", count: 65),
    ])
    func badClientPoliciesAreClearErrors(text: String) {
        let error = #expect(throws: HostError.self) { try ClientPolicy.parse(text) }
        #expect(error?.isInvalidSetting == true)
        #expect(error?.message.isEmpty == false)
    }

    @Test func configureRequestsChangeTheRunningHost() throws {
        let host = try makeHost(capacity: 1 << 20, clients: ["alice": ClientPolicy(weight: 3, cap: 1 << 20)])
        try host.configure("alice:cap=2MiB")
        try host.configure("bob:weight=7")
        try host.configure("capacity=4MiB")
        let alice = host.openSession(name: "alice", secretAuthenticated: false, isAdmin: false)
        let bob = host.openSession(name: "bob", secretAuthenticated: false, isAdmin: false)
        let rows = host.statistics().clients
        let aliceRow = try #require(rows.first { $0.session == alice.id })
        #expect(aliceRow.weight == 3 && aliceRow.cap == 2 << 20, "the weight left out is kept")
        #expect(rows.first { $0.session == bob.id }?.weight == 7)
        #expect(host.capacityBytes == 4 << 20)
        #expect(throws: HostError.self) { try host.configure("capacity=lots") }
        #expect(throws: HostError.self) { try host.configure("alice:weight=0") }
        #expect(host.capacityBytes == 4 << 20, "a bad request changes nothing")
    }

    @Test func meminfoAndPressureParse() {
        let meminfo = """
            MemTotal:       16318976 kB
            MemFree:         1234567 kB
            MemAvailable:    8159488 kB
            Buffers:          102400 kB
            """
        let figures = MemoryProbe.parseMeminfo(meminfo)
        #expect(figures?.total == 16_318_976 * 1024 && figures?.available == 8_159_488 * 1024)
        #expect(MemoryProbe.parseMeminfo("MemTotal: 100 kB\n") == nil, "no MemAvailable")
        let pressure = "some avg10=12.50 avg60=3.00 avg300=0.50 total=123456\nfull avg10=1.00 avg60=0.00 avg300=0.00 total=1"
        #expect(MemoryProbe.parsePressure(pressure) == 12.5)
        #expect(MemoryProbe.parsePressure("full avg10=1.00") == nil)
    }

    @Test func theSystemProbeReadsThisMachine() throws {
        let figures = try #require(MemoryProbe.system.snapshot(), "/proc/meminfo is readable on Linux")
        #expect(figures.totalBytes > 0 && figures.availableBytes > 0 && figures.availableBytes <= figures.totalBytes)
    }

    @Test func tokensAndUUIDsRoundTripThroughTheirWireBytes() {
        let token = SessionToken(low: 0x0102_0304_0506_0708, high: 0x1112_1314_1516_1718)
        #expect(token.bytes.count == 16 && token.bytes[0] == 0x08 && token.bytes[15] == 0x11)
        #expect(SessionToken(bytes: token.bytes) == token)
        #expect(SessionToken(bytes: [UInt8](repeating: 0, count: 15)) == nil)
        #expect(token != SessionToken(low: token.low, high: token.high ^ 1))
        #expect(!token.description.contains("1718"), "a token never appears in logs")
        let uuid = PoolUUID(low: 42, high: 7)
        #expect(PoolUUID(bytes: uuid.bytes) == uuid)
    }
}
