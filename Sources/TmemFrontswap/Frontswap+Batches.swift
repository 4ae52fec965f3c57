import Tmem

extension Frontswap {
    /// Stores several pages of one area at once (the paging layer's eviction batches): the same as one
    /// ``store(_:offset:page:)`` per page, but with one backend ``Backend/putBatch(_:pages:results:)``
    /// (one round trip for a remote backend); refused pages are written to the backing device.
    ///
    /// - Parameters:
    ///   - area: An initialised area.
    ///   - offsets: Distinct slots, each in 0..<pages.
    ///   - pages: As many pointers, each to 4096 bytes (copied before this returns).
    ///   - results: As many entries, overwritten with each store's result or error (a device failure
    ///     leaves that slot empty, as ``store(_:offset:page:)`` does; the other pages are unaffected).
    /// - Throws: ``FrontswapError`` for an unknown area or an offset out of range, before anything is stored.
    /// - Complexity: Holds the stripe locks of every slot of the batch while the backend works.
    public func storeBatch(
        _ area: SwapArea, offsets: UnsafeBufferPointer<Int>, pages: UnsafeBufferPointer<UnsafeRawPointer>,
        results: UnsafeMutableBufferPointer<Result<StoreResult, FrontswapError>>
    ) throws(FrontswapError) {
        let state = try batchArea(area, offsets: offsets, pages: pages.count, results: results.count)
        defer { wakeReclaimerIfWanted() }
        withUnsafeTemporaryAllocation(of: Key.self, capacity: offsets.count) { keys in
            withUnsafeTemporaryAllocation(of: PutResult.self, capacity: offsets.count) { puts in
                for i in offsets.indices {
                    keys.initializeElement(at: i, to: state.key(offsets[i]))
                    puts.initializeElement(at: i, to: .refused(.areaDisabled))
                }
                state.withSlots(Area.stripes(of: offsets)) { counters in
                    if state.enabled.load(ordering: .acquiring) {
                        backend.putBatch(UnsafeBufferPointer(keys), pages: pages, results: puts)
                    }
                    for i in offsets.indices {
                        let page = UnsafeRawBufferPointer(start: pages[i], count: pageSize)
                        do throws(FrontswapError) {
                            results[i] = .success(try settleStore(state, slot: offsets[i], page: page, puts[i], &counters))
                        } catch {
                            results[i] = .failure(error)
                        }
                    }
                }
                _ = keys.deinitialize()
                _ = puts.deinitialize()
            }
        }
    }

    /// Loads several pages of one area at once (the paging layer's readahead runs): the same as one
    /// ``load(_:offset:into:)`` per page, but the pages held in transcendent memory come back with one
    /// backend ``Backend/getBatch(_:into:results:)``.
    ///
    /// - Parameters:
    ///   - area: An initialised area.
    ///   - offsets: Distinct slots, each in 0..<pages.
    ///   - pages: As many pointers, each to 4096 writable bytes.
    ///   - results: As many entries, overwritten with each load's result or error.
    /// - Throws: ``FrontswapError`` for an unknown area or an offset out of range, before anything is loaded.
    public func loadBatch(
        _ area: SwapArea, offsets: UnsafeBufferPointer<Int>, into pages: UnsafeBufferPointer<UnsafeMutableRawPointer>,
        results: UnsafeMutableBufferPointer<Result<LoadResult, FrontswapError>>
    ) throws(FrontswapError) {
        let state = try batchArea(area, offsets: offsets, pages: pages.count, results: results.count)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: offsets.count) { held in
            withUnsafeTemporaryAllocation(of: Key.self, capacity: offsets.count) { keys in
                withUnsafeTemporaryAllocation(of: UnsafeMutableRawPointer.self, capacity: offsets.count) { buffers in
                    withUnsafeTemporaryAllocation(of: GetResult.self, capacity: offsets.count) { gets in
                        state.withSlots(Area.stripes(of: offsets)) { counters in
                            // Held slots in one backend call; the rest from the device, one by one.
                            var n = 0
                            for i in offsets.indices {
                                let page = UnsafeMutableRawBufferPointer(start: pages[i], count: pageSize)
                                guard state.tmemMap[offsets[i]] else {
                                    do throws(FrontswapError) {
                                        results[i] = .success(try loadFromDevice(state, slot: offsets[i], into: page, &counters))
                                    } catch {
                                        results[i] = .failure(error)
                                    }
                                    continue
                                }
                                held.initializeElement(at: n, to: i)
                                keys.initializeElement(at: n, to: state.key(offsets[i]))
                                buffers.initializeElement(at: n, to: pages[i])
                                gets.initializeElement(at: n, to: .miss)
                                n += 1
                            }
                            guard n > 0 else { return }
                            backend.getBatch(
                                UnsafeBufferPointer(rebasing: keys[0..<n]),
                                into: UnsafeBufferPointer(rebasing: buffers[0..<n]),
                                results: UnsafeMutableBufferPointer(rebasing: gets[0..<n]))
                            for j in 0..<n {
                                let i = held[j]
                                do throws(FrontswapError) {
                                    try settleLoad(state, slot: offsets[i], gets[j], &counters)
                                    results[i] = .success(.tmem)
                                } catch {
                                    results[i] = .failure(error)
                                }
                            }
                            _ = gets.baseAddress!.deinitialize(count: n)
                        }
                    }
                }
            }
        }
    }

    /// Looks up a batch's area and checks its offsets (and that its arrays agree in length).
    private func batchArea(_ area: SwapArea, offsets: UnsafeBufferPointer<Int>, pages: Int, results: Int)
        throws(FrontswapError) -> Area
    {
        precondition(pages == offsets.count && results == offsets.count, "a batch's arrays differ in length")
        let state = try self.area(area)
        for offset in offsets where !(0..<state.pages).contains(offset) {
            throw .offsetOutOfRange(PageOffset(offset), area, pages: state.pages)
        }
        return state
    }
}
