import CUserfaultfd
import Glibc
public func probe() -> Int { var m = uffd_msg(); return Int(m.arg.pagefault.address) + Int(CUserfaultfd_MSG_SIZE) + Int(MADV_DONTNEED) + Int(MAP_NORESERVE) }
