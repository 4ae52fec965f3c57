import Glibc
import Testing
import TmemWire

/// `HostAddress.parse` and the secret file.
@Suite struct EndpointTests {
    @Test(arguments: [
        ("localhost:7000", HostAddress.tcp(host: "localhost", port: 7000)),
        ("10.0.0.1:0", .tcp(host: "10.0.0.1", port: 0)),
        ("host.example:65535", .tcp(host: "host.example", port: 65535)),
        ("[::1]:9", .tcp(host: "::1", port: 9)),
        ("[fe80::1%eth0]:7000", .tcp(host: "fe80::1%eth0", port: 7000)),
        ("unix:/x", .unix(path: "/x")),
        ("unix:relative.sock", .unix(path: "relative.sock")),
        ("/x", .unix(path: "/x")),
        ("./x", .unix(path: "./x")),
        ("../run/tmemd.sock", .unix(path: "../run/tmemd.sock")),
    ])
    func addressesParse(_ text: String, _ address: HostAddress) throws {
        #expect(try HostAddress.parse(text) == address)
        #expect(try HostAddress.parse(address.description) == address)
    }

    @Test(arguments: [
        "localhost", "", "localhost:", "localhost:http", "localhost:65536", "localhost:-1", "localhost:80x", ":80",
        "[::1]", "[::1]:", "[]:80", "::1", "::1:9", "fe80::1:7000", "unix:",
    ])
    func badAddressesAreRefused(_ text: String) {
        #expect(throws: EndpointError.self, "\(text)") { try HostAddress.parse(text) }
    }

    @Test func descriptionBracketsIPv6() {
        #expect(HostAddress.tcp(host: "::1", port: 9).description == "[::1]:9")
        #expect(HostAddress.tcp(host: "localhost", port: 9).description == "localhost:9")
        #expect(HostAddress.unix(path: "/x").description == "unix:/x")
    }

    @Test func secretIsCreatedOnceWithModeSixHundredAndReadBack() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/config/tmem/secret"
            let made = try SecretFile.readOrCreate(path)
            #expect(made.count == SecretFile.generatedLength)
            #expect(made.count == 32)
            var info = stat()
            #expect(stat(path, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600)
            #expect(info.st_size == 32)
            for made in [dir + "/config", dir + "/config/tmem"] {
                #expect(stat(made, &info) == 0)
                #expect(info.st_mode & 0o777 == 0o700, "\(made)")
            }
            #expect(try SecretFile.readOrCreate(path) == made)
            #expect(try SecretFile.read(path) == made)
            #expect(try SecretFile.readOrCreate(dir + "/other") != made)
        }
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660] as [mode_t])
    func secretOthersMayReadIsRefused(_ mode: mode_t) throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/secret"
            _ = try SecretFile.readOrCreate(path)
            #expect(chmod(path, mode) == 0)
            let error = #expect(throws: EndpointError.self) { try SecretFile.readOrCreate(path) }
            #expect(error?.message.contains("may be read by other users") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains(path) == true)
        }
    }

    @Test func missingSecretIsAClearError() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/absent"
            let error = #expect(throws: EndpointError.self) { try SecretFile.read(path) }
            #expect(error?.message == "cannot read the secret file \(path): No such file or directory")
            #expect(access(path, F_OK) != 0, "read must not create the file")
        }
    }

    @Test func emptySecretIsRefused() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/empty"
            try write([], to: path)
            let error = #expect(throws: EndpointError.self) { try SecretFile.readOrCreate(path) }
            #expect(error?.message.contains("is empty") == true)
        }
    }

    @Test func secretOfUpTo4KiBIsRead() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/secret"
            let bytes = page(7)
            try write(bytes, to: path)
            #expect(try SecretFile.readOrCreate(path) == bytes)
            try write(bytes + [1], to: dir + "/larger")
            let error = #expect(throws: EndpointError.self) { try SecretFile.read(dir + "/larger") }
            #expect(error?.message.contains("larger than 4 KiB") == true)
        }
    }

    /// Writes a new mode-0600 file.
    func write(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count)
    }
}

/// Runs `body` with a fresh directory, removed afterwards with everything in it.
func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
    var template = Array("\(environmentTemporaryDirectory)/tmem-wire-test-XXXXXX".utf8CString)
    let made = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) })
    let dir = String(cString: made)
    defer { removeTree(dir) }
    try body(dir)
}

private var environmentTemporaryDirectory: String {
    getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
}

private func removeTree(_ path: String) {
    if let dir = opendir(path) {
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
            }
            if name == "." || name == ".." { continue }
            removeTree(path + "/" + name)
        }
        closedir(dir)
        rmdir(path)
    } else {
        unlink(path)
    }
}
