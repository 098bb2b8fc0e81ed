import CHDF5
import Dispatch
import Foundation

/// The thin layer over HDF5's C API; the only file of the package that imports `CHDF5`.
///
/// Debian's serial libhdf5 is built without `--enable-threadsafe`, so concurrent calls from two
/// threads corrupt its global state. Every public entry point that touches HDF5 runs inside
/// ``_HDF5/withLock(_:)``; the lock is recursive so that helpers can nest.
internal enum _HDF5 {
    private static let lock = NSRecursiveLock()

    static func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Turns off HDF5's printing of its error stack to stderr: failures are reported as thrown
    /// ``EventDatabaseError``s that name the file and dataset instead.
    static let silenceErrorStack: Void = { _ = H5Eset_auto2(chdf5_error_default(), nil, nil) }()

    enum Kind { case group, dataset, other }

    /// A creation property list of `class` (file, group or dataset) with object timestamps off.
    ///
    /// HDF5 records access, modification, change and birth times in every object header by
    /// default; without them a file written twice from the same content is byte-identical.
    static func untimedCreationList(_ class_: hid_t) -> _H5Handle {
        let list = H5Pcreate(class_)
        _ = H5Pset_obj_track_times(list, false)
        return _H5Handle(list, close: H5Pclose)
    }
}

/// An open HDF5 object (file, group, dataset, attribute, type, space), closed when released.
internal final class _H5Handle {
    let id: hid_t
    private let close: (hid_t) -> herr_t
    private var isOpen = true
    init(_ id: hid_t, close: @escaping (hid_t) -> herr_t) {
        self.id = id
        self.close = close
    }

    /// Closes now rather than at release: a file must be complete on disk before it is renamed.
    func closeNow() -> Bool {
        guard isOpen else { return true }
        isOpen = false
        return close(id) >= 0
    }

    deinit { _ = closeNow() }
}

/// A location in a file (the file itself or a group) with the context needed for error messages.
internal struct _H5Location {
    let handle: _H5Handle
    let file: String
    /// The HDF5 path of this location, "/" for the file.
    let path: String

    var id: hid_t { handle.id }

    func childPath(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

    func error(_ code: EventDatabaseError.Code, _ message: String, dataset: String? = nil) -> EventDatabaseError {
        EventDatabaseError(code, message, file: file, dataset: dataset ?? path)
    }

    // MARK: Files

    static func create(file: String) throws(EventDatabaseError) -> _H5Location {
        _HDF5.silenceErrorStack
        let fileCreation = _HDF5.untimedCreationList(chdf5_plist_file_create())
        let id = H5Fcreate(file, chdf5_acc_trunc(), fileCreation.id, chdf5_default())
        guard id >= 0 else { throw EventDatabaseError(.io, "cannot create HDF5 file", file: file) }
        return _H5Location(handle: _H5Handle(id, close: H5Fclose), file: file, path: "/")
    }

    static func open(file: String) throws(EventDatabaseError) -> _H5Location {
        _HDF5.silenceErrorStack
        guard FileManager.default.fileExists(atPath: file) else { throw EventDatabaseError(.io, "no such file", file: file) }
        guard H5Fis_hdf5(file) > 0 else { throw EventDatabaseError(.format, "not an HDF5 file", file: file) }
        let id = H5Fopen(file, chdf5_acc_rdonly(), chdf5_default())
        guard id >= 0 else { throw EventDatabaseError(.io, "cannot open HDF5 file", file: file) }
        return _H5Location(handle: _H5Handle(id, close: H5Fclose), file: file, path: "/")
    }

    // MARK: Navigation

    func exists(_ name: String) -> Bool {
        // H5Lexists on "a/b" fails when "a" is missing, so walk the components.
        var prefix = ""
        for component in name.split(separator: "/") {
            prefix += prefix.isEmpty ? String(component) : "/" + component
            guard H5Lexists(id, prefix, chdf5_default()) > 0 else { return false }
        }
        return true
    }

    func kind(_ name: String) -> _HDF5.Kind? {
        guard exists(name) else { return nil }
        let object = H5Oopen(id, name, chdf5_default())
        guard object >= 0 else { return nil }
        defer { H5Oclose(object) }
        switch H5Iget_type(object) {
        case H5I_GROUP: return .group
        case H5I_DATASET: return .dataset
        default: return .other
        }
    }

    func group(_ name: String) throws(EventDatabaseError) -> _H5Location {
        guard kind(name) == .group else {
            throw error(exists(name) ? .wrongType : .missing, exists(name) ? "is not a group" : "missing group", dataset: childPath(name))
        }
        let gid = H5Gopen2(id, name, chdf5_default())
        guard gid >= 0 else { throw error(.io, "cannot open group", dataset: childPath(name)) }
        return _H5Location(handle: _H5Handle(gid, close: H5Gclose), file: file, path: childPath(name))
    }

    /// Dataset `name` as a location, to read or write its attributes.
    func object(_ name: String) throws(EventDatabaseError) -> _H5Location {
        guard exists(name) else { throw error(.missing, "missing dataset", dataset: childPath(name)) }
        let oid = H5Oopen(id, name, chdf5_default())
        guard oid >= 0 else { throw error(.io, "cannot open object", dataset: childPath(name)) }
        return _H5Location(handle: _H5Handle(oid, close: H5Oclose), file: file, path: childPath(name))
    }

    /// Removes the link `name` (tests use it to damage files on purpose).
    func delete(_ name: String) throws(EventDatabaseError) {
        guard H5Ldelete(id, name, chdf5_default()) >= 0 else { throw error(.io, "cannot delete", dataset: childPath(name)) }
    }

    func createGroup(_ name: String) throws(EventDatabaseError) -> _H5Location {
        let groupCreation = _HDF5.untimedCreationList(chdf5_plist_group_create())
        let gid = H5Gcreate2(id, name, chdf5_default(), groupCreation.id, chdf5_default())
        guard gid >= 0 else { throw error(.io, "cannot create group", dataset: childPath(name)) }
        return _H5Location(handle: _H5Handle(gid, close: H5Gclose), file: file, path: childPath(name))
    }

    /// The names of the links in this group, in HDF5's name order.
    func memberNames() throws(EventDatabaseError) -> [String] {
        var info = H5G_info_t()
        guard H5Gget_info(id, &info) >= 0 else { throw error(.io, "cannot list group") }
        var names: [String] = []
        for i in 0 ..< info.nlinks {
            let length = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, chdf5_default())
            guard length >= 0 else { throw error(.io, "cannot read link name \(i)") }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            _ = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, buffer.count, chdf5_default())
            names.append(String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return names
    }

    // MARK: Datasets of numbers

    /// Writes `count` values of `values` as a float64 (or int64) dataset of the given shape:
    /// contiguous, or with `chunked` as chunks of that many rows, each gzip-compressed (deflate at
    /// `level`, after the byte shuffle when `shuffle`), as h5py's `chunks=…, compression="gzip"`.
    private func writeNumbers(
        _ name: String, shape: [Int], memoryType: hid_t, fileType: hid_t, _ base: UnsafeRawPointer?,
        chunked: (rows: Int, level: UInt32, shuffle: Bool)? = nil
    ) throws(EventDatabaseError) {
        var dims = shape.map { hsize_t($0) }
        let space = H5Screate_simple(Int32(dims.count), &dims, nil)
        guard space >= 0 else { throw error(.io, "cannot create dataspace", dataset: childPath(name)) }
        defer { H5Sclose(space) }
        let datasetCreation = _HDF5.untimedCreationList(chdf5_plist_dataset_create())
        if let chunked {
            var chunkDims = dims
            chunkDims[0] = hsize_t(max(1, chunked.rows))
            guard H5Pset_chunk(datasetCreation.id, Int32(chunkDims.count), &chunkDims) >= 0,
                !chunked.shuffle || H5Pset_shuffle(datasetCreation.id) >= 0,
                H5Pset_deflate(datasetCreation.id, chunked.level) >= 0
            else { throw error(.io, "cannot set chunked, compressed storage", dataset: childPath(name)) }
        }
        let dataset = H5Dcreate2(id, name, fileType, space, chdf5_default(), datasetCreation.id, chdf5_default())
        guard dataset >= 0 else { throw error(.io, "cannot create dataset", dataset: childPath(name)) }
        defer { H5Dclose(dataset) }
        if shape.reduce(1, *) > 0 {
            guard H5Dwrite(dataset, memoryType, chdf5_all(), chdf5_all(), chdf5_default(), base) >= 0 else {
                throw error(.io, "cannot write dataset", dataset: childPath(name))
            }
        }
    }

    /// Writes a float64 dataset, contiguous (efthf's layout) unless `chunked` (see `writeNumbers`:
    /// the layout other writers may use, which readers accept).
    func writeDoubles(
        _ name: String, _ values: [Double], shape: [Int]? = nil, chunked: (rows: Int, level: UInt32, shuffle: Bool)? = nil
    ) throws(EventDatabaseError) {
        try values.withUnsafeBytes { raw in
            Result { () throws(EventDatabaseError) in
                try writeNumbers(
                    name, shape: shape ?? [values.count], memoryType: chdf5_native_double(), fileType: chdf5_ieee_f64le(), raw.baseAddress,
                    chunked: chunked)
            }
        }.get()
    }

    func writeIntegers(_ name: String, _ values: [Int64], shape: [Int]) throws(EventDatabaseError) {
        try values.withUnsafeBytes { raw in
            Result { () throws(EventDatabaseError) in
                try writeNumbers(name, shape: shape, memoryType: chdf5_native_int64(), fileType: chdf5_std_i64le(), raw.baseAddress)
            }
        }.get()
    }

    /// Opens dataset `name`, checking that it exists and is a dataset.
    private func openDataset(_ name: String) throws(EventDatabaseError) -> _H5Handle {
        guard let kind = kind(name) else { throw error(.missing, "missing dataset", dataset: childPath(name)) }
        guard kind == .dataset else { throw error(.wrongType, "is a group, expected a dataset", dataset: childPath(name)) }
        let dataset = H5Dopen2(id, name, chdf5_default())
        guard dataset >= 0 else { throw error(.io, "cannot open dataset", dataset: childPath(name)) }
        return _H5Handle(dataset, close: H5Dclose)
    }

    private func shape(ofDataset dataset: hid_t) -> [Int] {
        let space = H5Dget_space(dataset)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        var dims = [hsize_t](repeating: 0, count: max(rank, 0))
        _ = H5Sget_simple_extent_dims(space, &dims, nil)
        return dims.map { Int($0) }
    }

    /// The shape of dataset `name`.
    func datasetShape(_ name: String) throws(EventDatabaseError) -> [Int] {
        let dataset = try openDataset(name)
        return shape(ofDataset: dataset.id)
    }

    /// Where the values of a floating-point dataset are: at a file offset, when the stored bytes are
    /// the native doubles themselves (efthf's layout), or to be read (and converted) by HDF5.
    enum FloatData {
        case stored(offset: Int)
        case throughHDF5
    }

    /// Opens floating-point dataset `name` (float32 or float64 on file), checks its shape against
    /// `expectedShape` (`nil` entries accept any extent) and finds its data; nothing is read.
    func floatData(_ name: String, expectedShape: [Int?]) throws(EventDatabaseError) -> (data: FloatData, shape: [Int]) {
        let dataset = try openDataset(name)
        let path = childPath(name)
        let type = H5Dget_type(dataset.id)
        defer { H5Tclose(type) }
        let typeClass = H5Tget_class(type)
        guard typeClass == H5T_FLOAT || typeClass == H5T_INTEGER else {
            throw error(.wrongType, "expected a floating-point dataset, found HDF5 type class \(typeClass.rawValue)", dataset: path)
        }
        guard typeClass == H5T_FLOAT else {
            throw error(.wrongType, "expected float64 (or float32), found an integer dataset", dataset: path)
        }
        let shape = shape(ofDataset: dataset.id)
        guard shape.count == expectedShape.count,
            zip(shape, expectedShape).allSatisfy({ $1 == nil || $0 == $1 })
        else {
            let expected = expectedShape.map { $0.map(String.init) ?? "any" }.joined(separator: ", ")
            throw error(.shape, "shape (\(shape.map(String.init).joined(separator: ", "))), expected (\(expected))", dataset: path)
        }
        let count = shape.reduce(1, *)
        if count > 0, let offset = directOffset(dataset.id, type: type, count: count) { return (.stored(offset: offset), shape) }
        return (.throughHDF5, shape)
    }

    /// Reads a floating-point dataset (float32 or float64 on file, converted to Double) into a new array.
    ///
    /// `expectedShape` entries of `nil` accept any extent. efthf's own layout is copied from the file
    /// straight into the array (``_DirectRead``); values are not checked for finiteness.
    func readDoubles(_ name: String, expectedShape: [Int?]) throws(EventDatabaseError) -> (values: [Double], shape: [Int]) {
        let (data, shape) = try floatData(name, expectedShape: expectedShape)
        let count = shape.reduce(1, *)
        switch data {
        case .throughHDF5:
            let dataset = try openDataset(name)
            var status: herr_t = 0
            let values = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 {
                    status = H5Dread(dataset.id, chdf5_native_double(), chdf5_all(), chdf5_all(), chdf5_default(), buffer.baseAddress)
                }
                // On failure the contents are garbage but initialised doubles (the array is then discarded).
                initialized = count
            }
            guard status >= 0 else { throw error(.io, "cannot read dataset", dataset: childPath(name)) }
            return (values, shape)
        case .stored(let offset):
            switch _DirectRead.readColumns(file: file, [(offset, count)], checkFinite: false) {
            case .success(let columns): return (columns[0], shape)
            case .failure(let failure): throw error(.io, failure.message, dataset: childPath(name))
            }
        }
    }

    /// Reads events `start ..< start + buffer.count` of the 1-D floating-point dataset at HDF5 path
    /// `dataset` through HDF5 (a hyperslab: only the chunks that hold them are read and decompressed),
    /// converted to native doubles. Takes the HDF5 lock.
    ///
    /// - Complexity: O(buffer.count) plus, for chunked storage, the chunks overlapping the range.
    static func readHyperslab(file: String, dataset: String, start: Int, into buffer: UnsafeMutableBufferPointer<Double>) throws(EventDatabaseError) {
        guard !buffer.isEmpty else { return }
        try _HDF5.withLock { () throws(EventDatabaseError) in
            let root = try open(file: file)
            let id = H5Dopen2(root.id, dataset, chdf5_default())
            guard id >= 0 else { throw EventDatabaseError(.io, "cannot open dataset", file: file, dataset: dataset) }
            let handle = _H5Handle(id, close: H5Dclose)
            let fileSpace = _H5Handle(H5Dget_space(handle.id), close: H5Sclose)
            var offset = [hsize_t(start)], count = [hsize_t(buffer.count)]
            guard fileSpace.id >= 0, H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, &offset, nil, &count, nil) >= 0 else {
                throw EventDatabaseError(.io, "cannot select events \(start) ..< \(start + buffer.count)", file: file, dataset: dataset)
            }
            let memorySpace = _H5Handle(H5Screate_simple(1, &count, nil), close: H5Sclose)
            guard memorySpace.id >= 0,
                  H5Dread(handle.id, chdf5_native_double(), memorySpace.id, fileSpace.id, chdf5_default(), buffer.baseAddress) >= 0 else {
                throw EventDatabaseError(.io, "cannot read events \(start) ..< \(start + buffer.count)", file: file, dataset: dataset)
            }
        }
    }

    /// The file offset of a dataset whose stored bytes are exactly `count` native doubles, or nil.
    ///
    /// True for efthf's own layout (contiguous, unfiltered, little-endian float64 on a
    /// little-endian host): then the bytes at the offset *are* the array, and ``_DirectRead`` copies
    /// them with sequential `pread`s into memory prepared on another thread. Anything else
    /// (chunked, compressed, external, float32, big-endian, a user block) is read through HDF5.
    private func directOffset(_ dataset: hid_t, type: hid_t, count: Int) -> Int? {
        guard H5Tequal(type, chdf5_native_double()) > 0 else { return nil }
        let creation = H5Dget_create_plist(dataset)
        guard creation >= 0 else { return nil }
        defer { H5Pclose(creation) }
        guard H5Pget_layout(creation) == H5D_CONTIGUOUS, H5Pget_nfilters(creation) == 0, H5Pget_external_count(creation) == 0 else { return nil }
        guard H5Dget_storage_size(dataset) == hsize_t(count * MemoryLayout<Double>.size) else { return nil }
        let fileID = H5Iget_file_id(dataset)
        guard fileID >= 0 else { return nil }
        defer { H5Fclose(fileID) }
        let fileCreation = H5Fget_create_plist(fileID)
        guard fileCreation >= 0 else { return nil }
        defer { H5Pclose(fileCreation) }
        var userBlock: hsize_t = 0
        guard H5Pget_userblock(fileCreation, &userBlock) >= 0, userBlock == 0 else { return nil }
        let offset = H5Dget_offset(dataset)
        guard offset != haddr_t.max, offset <= haddr_t(Int.max) else { return nil }
        return Int(offset)
    }

    /// Reads an integer dataset as Int64.
    func readIntegers(_ name: String) throws(EventDatabaseError) -> (values: [Int64], shape: [Int]) {
        let dataset = try openDataset(name)
        let type = H5Dget_type(dataset.id)
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_INTEGER else {
            throw error(.wrongType, "expected an integer dataset", dataset: childPath(name))
        }
        let shape = shape(ofDataset: dataset.id)
        let count = shape.reduce(1, *)
        var values = [Int64](repeating: 0, count: count)
        if count > 0 {
            guard H5Dread(dataset.id, chdf5_native_int64(), chdf5_all(), chdf5_all(), chdf5_default(), &values) >= 0 else {
                throw error(.io, "cannot read dataset", dataset: childPath(name))
            }
        }
        return (values, shape)
    }

    // MARK: Strings (datasets and attributes)

    /// A UTF-8 variable-length string type: what h5py writes for `str` and reads back as `str`.
    private static func variableStringType() -> hid_t {
        let type = H5Tcopy(chdf5_c_s1())
        H5Tset_size(type, chdf5_variable())
        H5Tset_cset(type, H5T_CSET_UTF8)
        return type
    }

    /// Calls `body` with C strings for `strings`, freed afterwards.
    private static func withCStrings<T, E: Error>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) throws(E) -> T) throws(E) -> T {
        let pointers = strings.map { UnsafePointer(strdup($0)) }
        defer { pointers.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
        return try body(pointers)
    }

    func writeStrings(_ name: String, _ strings: [String]) throws(EventDatabaseError) {
        let type = Self.variableStringType()
        defer { H5Tclose(type) }
        var dims = [hsize_t(strings.count)]
        let space = H5Screate_simple(1, &dims, nil)
        defer { H5Sclose(space) }
        let datasetCreation = _HDF5.untimedCreationList(chdf5_plist_dataset_create())
        let dataset = H5Dcreate2(id, name, type, space, chdf5_default(), datasetCreation.id, chdf5_default())
        guard dataset >= 0 else { throw error(.io, "cannot create dataset", dataset: childPath(name)) }
        defer { H5Dclose(dataset) }
        let status = Self.withCStrings(strings) { pointers in
            strings.isEmpty ? 0 : H5Dwrite(dataset, type, chdf5_all(), chdf5_all(), chdf5_default(), pointers)
        }
        guard status >= 0 else { throw error(.io, "cannot write dataset", dataset: childPath(name)) }
    }

    /// Reads `count` strings of a dataset or attribute whose file type is `type`, fixed-length
    /// (numpy `S`, as MadMiner writes) or variable-length (h5py `str`).
    private static func readStrings(type: hid_t, space: hid_t, count: Int, read: (hid_t, UnsafeMutableRawPointer) -> herr_t) -> [String]? {
        guard H5Tget_class(type) == H5T_STRING else { return nil }
        if H5Tis_variable_str(type) > 0 {
            let memoryType = variableStringType()
            defer { H5Tclose(memoryType) }
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            guard count == 0 || pointers.withUnsafeMutableBytes({ read(memoryType, $0.baseAddress!) }) >= 0 else { return nil }
            let strings = pointers.map { $0.map { String(cString: $0) } ?? "" }
            if count > 0 { _ = H5Dvlen_reclaim(memoryType, space, chdf5_default(), &pointers) }
            return strings
        }
        let size = H5Tget_size(type)
        let memoryType = H5Tcopy(chdf5_c_s1())
        defer { H5Tclose(memoryType) }
        H5Tset_size(memoryType, size)
        var bytes = [UInt8](repeating: 0, count: count * size)
        guard count == 0 || bytes.withUnsafeMutableBytes({ read(memoryType, $0.baseAddress!) }) >= 0 else { return nil }
        return (0 ..< count).map { i in
            let slice = bytes[i * size ..< (i + 1) * size]
            let end = slice.firstIndex(of: 0) ?? slice.endIndex
            return String(decoding: slice[slice.startIndex ..< end], as: UTF8.self).trimmingCharacters(in: .whitespaces)
        }
    }

    func readStrings(_ name: String) throws(EventDatabaseError) -> [String] {
        let dataset = try openDataset(name)
        let type = H5Dget_type(dataset.id)
        defer { H5Tclose(type) }
        let space = H5Dget_space(dataset.id)
        defer { H5Sclose(space) }
        let shape = shape(ofDataset: dataset.id)
        guard shape.count <= 1 else { throw error(.shape, "expected a 1-D list of strings, found rank \(shape.count)", dataset: childPath(name)) }
        let count = shape.first ?? 1
        guard let strings = Self.readStrings(type: type, space: space, count: count, read: { H5Dread(dataset.id, $0, chdf5_all(), chdf5_all(), chdf5_default(), $1) }) else {
            throw error(.wrongType, "expected strings", dataset: childPath(name))
        }
        return strings
    }

    // MARK: Attributes

    func hasAttribute(_ name: String) -> Bool { H5Aexists(id, name) > 0 }

    private func writeAttribute(_ name: String, type: hid_t, count: Int?, _ base: UnsafeRawPointer) throws(EventDatabaseError) {
        var dims = [hsize_t(count ?? 1)]
        let space = count == nil ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil)
        defer { H5Sclose(space) }
        let attribute = H5Acreate2(id, name, type, space, chdf5_default(), chdf5_default())
        guard attribute >= 0 else { throw error(.io, "cannot create attribute \(name)") }
        defer { H5Aclose(attribute) }
        guard H5Awrite(attribute, type, base) >= 0 else { throw error(.io, "cannot write attribute \(name)") }
    }

    func writeAttribute(_ name: String, string: String) throws(EventDatabaseError) {
        let type = Self.variableStringType()
        defer { H5Tclose(type) }
        try Self.withCStrings([string]) { pointers in
            pointers.withUnsafeBytes { raw in
                Result { () throws(EventDatabaseError) in try writeAttribute(name, type: type, count: nil, raw.baseAddress!) }
            }
        }.get()
    }

    func writeAttribute(_ name: String, double: Double) throws(EventDatabaseError) {
        var value = double
        try writeAttribute(name, type: chdf5_native_double(), count: nil, &value)
    }

    func writeAttribute(_ name: String, doubles: [Double]) throws(EventDatabaseError) {
        guard !doubles.isEmpty else { return try writeAttribute(name, type: chdf5_native_double(), count: 0, [0.0]) }
        try doubles.withUnsafeBytes { raw in
            Result { () throws(EventDatabaseError) in
                try writeAttribute(name, type: chdf5_native_double(), count: doubles.count, raw.baseAddress!)
            }
        }.get()
    }

    func writeAttribute(_ name: String, integer: Int64) throws(EventDatabaseError) {
        var value = integer
        try writeAttribute(name, type: chdf5_native_int64(), count: nil, &value)
    }

    private func openAttribute(_ name: String) throws(EventDatabaseError) -> _H5Handle {
        guard hasAttribute(name) else { throw error(.missing, "missing attribute \(name)") }
        let attribute = H5Aopen(id, name, chdf5_default())
        guard attribute >= 0 else { throw error(.io, "cannot open attribute \(name)") }
        return _H5Handle(attribute, close: H5Aclose)
    }

    /// A string attribute (scalar, or a one-element array as numpy sometimes writes).
    func stringAttribute(_ name: String) throws(EventDatabaseError) -> String {
        let attribute = try openAttribute(name)
        let type = H5Aget_type(attribute.id)
        defer { H5Tclose(type) }
        let space = H5Aget_space(attribute.id)
        defer { H5Sclose(space) }
        let count = Int(H5Sget_simple_extent_npoints(space))
        guard count == 1, let strings = Self.readStrings(type: type, space: space, count: 1, read: { H5Aread(attribute.id, $0, $1) }) else {
            throw error(.wrongType, "attribute \(name) is not a single string")
        }
        return strings[0]
    }

    /// A floating-point or integer attribute as doubles (scalar → one element).
    func doublesAttribute(_ name: String) throws(EventDatabaseError) -> [Double] {
        let attribute = try openAttribute(name)
        let type = H5Aget_type(attribute.id)
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_FLOAT || H5Tget_class(type) == H5T_INTEGER else {
            throw error(.wrongType, "attribute \(name) is not numeric")
        }
        let space = H5Aget_space(attribute.id)
        defer { H5Sclose(space) }
        let count = Int(H5Sget_simple_extent_npoints(space))
        var values = [Double](repeating: 0, count: count)
        if count > 0 {
            guard H5Aread(attribute.id, chdf5_native_double(), &values) >= 0 else { throw error(.io, "cannot read attribute \(name)") }
        }
        return values
    }
}

/// Copies columns of native doubles stored contiguously in a file into new arrays, checking finiteness
/// on the way: the bulk of loading an event database.
///
/// Besides the device's sequential read, the cost is faulting in fresh memory for the arrays: on a
/// virtual machine 1.5 GB of 4 KiB pages take 1–1.5 s, huge pages 0.25–1 s once the guest has
/// touched that memory before. The two are overlapped: a helper thread allocates the arrays in file
/// order, asks for huge pages and zero-fills them (paying the faults), while the calling thread
/// reads the columns in file order through one file descriptor, `pread`s of ``pieceSize``, asking
/// (`POSIX_FADV_WILLNEED`) for the two pieces after each one so that the device stays busy while a
/// piece is copied and checked for NaN and infinities (still in cache). Measured on a cold page
/// cache: 1.2 s for 1.5 GB where `dd` takes 1.0 s; without the look-ahead, 2.2 s.
internal enum _DirectRead {
    /// 8 MiB per `pread`: the kernel's read-ahead window here, few system calls, and a piece that
    /// stays in cache for its finiteness check.
    static let pieceSize = 8 << 20

    struct Failure: Error {
        /// The index of the column in the request.
        let column: Int
        /// `errno` of a failed read (`EIO` for a file shorter than the range), or 0.
        let errorNumber: Int32
        /// The first non-finite value, when `errorNumber` is 0.
        let event: Int
        let value: Double

        var message: String {
            errorNumber != 0 ? "cannot read dataset: \(String(cString: strerror(errorNumber)))" : "event \(event) has the non-finite value \(value)"
        }
    }

    /// Reads `count` native doubles at `offset` of `file` for each column, in file order.
    ///
    /// - Complexity: O(total bytes): one sequential read of each range; with `checkFinite`, one
    ///   pass over each piece while it is in cache.
    static func readColumns(
        file: String, _ columns: [(offset: Int, count: Int)], checkFinite: Bool, pieceSize: Int = pieceSize
    ) -> Result<[[Double]], Failure> {
        precondition(pieceSize > 0 && pieceSize % 8 == 0, "pieces hold whole doubles")
        guard !columns.isEmpty else { return .success([]) }
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(Failure(column: 0, errorNumber: errno, event: 0, value: 0)) }
        defer { close(fd) }
        let order = columns.indices.sorted { columns[$0].offset < columns[$1].offset }
        // Doubles the read-ahead window; start the device on the first piece while the first array is prepared.
        adviseSequential(fd)
        adviseWillNeed(fd, offset: columns[order[0]].offset, length: pieceSize)

        let arrays = _ArrayHandoff(count: columns.count)
        let group = DispatchGroup()
        DispatchQueue.global(qos: .userInitiated).async(group: group) {
            for j in order where !arrays.isCancelled {
                arrays.put(j, preparedArray(count: columns[j].count))
            }
        }
        defer {
            arrays.cancel()
            group.wait()
        }
        var result = [[Double]](repeating: [], count: columns.count)
        for j in order {
            var column = arrays.take(j)
            let failure = column.withUnsafeMutableBufferPointer { buffer in
                readColumn(fd, offset: columns[j].offset, into: buffer, checkFinite: checkFinite, pieceSize: pieceSize)
            }
            if let (errorNumber, event, value) = failure {
                return .failure(Failure(column: j, errorNumber: errorNumber, event: event, value: value))
            }
            result[j] = column
        }
        return .success(result)
    }

    /// Tells the kernel the file is read front to back (a larger read-ahead window); Linux only,
    /// a no-op elsewhere (the advice changes speed, never results).
    private static func adviseSequential(_ fd: Int32) {
        #if os(Linux)
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        #endif
    }

    /// Asks the kernel to start reading `offset ..< offset + length` now; Linux only, as above.
    private static func adviseWillNeed(_ fd: Int32, offset: Int, length: Int) {
        #if os(Linux)
        _ = posix_fadvise(fd, off_t(offset), off_t(length), POSIX_FADV_WILLNEED)
        #endif
    }

    /// A zero-filled array of `count` doubles whose pages are all faulted in, on huge pages where the
    /// kernel grants them (`MADV_HUGEPAGE` on the 2 MiB-aligned interior: 512 times fewer faults).
    private static func preparedArray(count: Int) -> [Double] {
        [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress {
                // Sound: an advisory call on whole pages inside `buffer`, which this closure owns;
                // contents are unaffected and a refusal (THP off) changes nothing.
                let huge = 2 << 20, address = Int(bitPattern: base)
                let first = (address + huge - 1) & ~(huge - 1), last = (address + 8 * count) & ~(huge - 1)
                #if os(Linux)
                if last > first { _ = madvise(UnsafeMutableRawPointer(bitPattern: first), last - first, MADV_HUGEPAGE) }
                #endif
            }
            buffer.initialize(repeating: 0)
            initialized = count
        }
    }

    /// Fills `buffer` from `offset` piece by piece; returns (errno, 0, 0) for a failed read,
    /// (0, event, value) for the first non-finite value, nil when all is well.
    static func readColumn(
        _ fd: Int32, offset: Int, into buffer: UnsafeMutableBufferPointer<Double>, checkFinite: Bool, pieceSize: Int
    ) -> (Int32, Int, Double)? {
        let raw = UnsafeMutableRawBufferPointer(buffer)
        var done = 0
        while done < raw.count {
            let end = min(raw.count, done + pieceSize)
            let start = done
            // Keep the device busy while this piece is copied and checked: ask for the next two.
            adviseWillNeed(fd, offset: offset + end, length: 2 * pieceSize)
            while done < end {
                let n = pread(fd, raw.baseAddress! + done, end - done, off_t(offset + done))
                if n > 0 {
                    done += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return (n == 0 ? EIO : errno, 0, 0)
                }
            }
            let first = start / 8, last = end / 8  // whole doubles: pieceSize is a multiple of 8
            if checkFinite, !EventDatabase.allFinite(UnsafeBufferPointer(rebasing: buffer[first ..< last])),
               let e = buffer[first ..< last].firstIndex(where: { !$0.isFinite }) {
                return (0, e, buffer[e])
            }
        }
        return nil
    }
}

/// Arrays passed from the thread that prepares them to the thread that fills them, by column index.
private final class _ArrayHandoff: @unchecked Sendable {
    // Sound: every access to `slots` and `cancelled` holds `condition`.
    private let condition = NSCondition()
    private var slots: [[Double]?]
    private var cancelled = false

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }

    func cancel() {
        condition.lock()
        cancelled = true
        slots = slots.map { _ in nil }
        condition.unlock()
    }

    func put(_ j: Int, _ array: [Double]) {
        condition.lock()
        if !cancelled { slots[j] = array }
        condition.broadcast()
        condition.unlock()
    }

    func take(_ j: Int) -> [Double] {
        condition.lock()
        defer { condition.unlock() }
        while slots[j] == nil { condition.wait() }
        let array = slots[j]!
        slots[j] = nil
        return array
    }
}
