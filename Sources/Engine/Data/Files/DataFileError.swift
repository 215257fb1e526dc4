import Foundation

/// Errors of the data files (images, label maps, arrays) and the real-data layouts; each names the
/// file and what was wrong or expected. A run stops on one with exit code 2.
public struct DataFileError: Error, Equatable, CustomStringConvertible {
    public var file: String
    public var reason: String

    public init(file: String, reason: String) { self.file = file; self.reason = reason }

    public var description: String { "\(file): \(reason)" }
}

extension Data {
    /// A data file's bytes; a file that cannot be read is a `DataFileError` naming it.
    init(dataFile url: URL) throws {
        do { try self.init(contentsOf: url) } catch {
            throw DataFileError(file: url.path, reason: "unreadable (\(error.localizedDescription))")
        }
    }
}
