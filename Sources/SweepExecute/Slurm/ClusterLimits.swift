import Foundation

/// What the cluster lets one submission hold, as Slurm reports it: `scontrol show config`
/// (MaxArraySize, MaxJobCount), `sinfo` (the CPUs a packing should keep busy) and, when
/// accounting is on, `sacctmgr` (the user's MaxSubmitJobs: an association's, or a QOS's per
/// user). Every array task counts as one job against MaxJobCount and MaxSubmitJobs, pending or
/// not; a limit Slurm does not report is no limit here.
struct ClusterLimits: Equatable, Sendable {
    /// Tasks one array may have: its indices run from 0 to MaxArraySize - 1.
    var maxArraySize: Int?
    /// Jobs the controller holds at once, every user's together (finished ones until MinJobAge).
    var maxJobCount: Int?
    /// Jobs (array tasks) the controller holds now.
    var jobsInSystem = 0
    /// The user's submit limit and where it comes from ("association lab/alice", "QOS normal").
    var userSubmitLimit: (limit: Int, source: String)?
    /// The user's jobs (array tasks) pending or running now.
    var userJobs = 0
    /// CPUs of the partition, for how many tasks can run at once.
    var cpus: Int?

    static func == (a: ClusterLimits, b: ClusterLimits) -> Bool {
        a.maxArraySize == b.maxArraySize && a.maxJobCount == b.maxJobCount && a.jobsInSystem == b.jobsInSystem
            && a.userSubmitLimit?.limit == b.userSubmitLimit?.limit && a.userSubmitLimit?.source == b.userSubmitLimit?.source
            && a.userJobs == b.userJobs && a.cpus == b.cpus
    }

    /// Array tasks that may be submitted now, and the limit that says so; nil when unlimited.
    var capacity: (tasks: Int, why: String)? {
        var tightest: (tasks: Int, why: String)?
        if let maxJobCount {
            tightest = (maxJobCount - jobsInSystem,
                        "the cluster's MaxJobCount is \(maxJobCount) and the controller holds \(jobsInSystem) jobs")
        }
        if let (limit, source) = userSubmitLimit, limit - userJobs < tightest?.tasks ?? .max {
            tightest = (limit - userJobs, "MaxSubmitJobs of \(source) is \(limit) and you have \(userJobs) jobs queued or running")
        }
        return tightest.map { (max(0, $0.tasks), $0.why) }
    }

    // MARK: parsing

    /// `scontrol show config` lines "MaxArraySize            = 1001".
    static func parseConfig(_ output: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, !key.contains(" ") else { continue }
            values[key] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        return values
    }

    /// `sinfo --noheader --format=%C`: "allocated/idle/other/total" per partition line; the totals.
    static func parseCPUs(_ output: String) -> Int? {
        let totals = output.split(separator: "\n").compactMap { $0.split(separator: "/").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        return totals.isEmpty ? nil : totals.reduce(0, +)
    }

    /// `sacctmgr --noheader --parsable2 show association where user=U format=Cluster,Account,MaxSubmit,QOS,DefaultQOS`:
    /// the smallest MaxSubmitJobs of the user's associations, and the QOS names they allow
    /// (the default ones first).
    static func parseAssociations(_ output: String) -> (limit: (Int, String)?, qos: [String]) {
        var limit: (Int, String)?
        var qos: [String] = []
        var defaults: [String] = []
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 5 else { continue }
            if let value = Int(fields[2]), value < limit?.0 ?? .max {
                limit = (value, "association \(fields[0])/\(fields[1])")
            }
            if !fields[4].isEmpty { defaults.append(fields[4]) }
            qos += fields[3].split(separator: ",").map(String.init)
        }
        var seen = Set<String>()
        return (limit, (defaults + qos).filter { seen.insert($0).inserted })
    }

    /// `sacctmgr --noheader --parsable2 show qos format=Name,MaxSubmitPU`: limits by QOS name.
    static func parseQOS(_ output: String) -> [String: Int] {
        var limits: [String: Int] = [:]
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: "|", omittingEmptySubsequences: false)
            guard fields.count >= 2, let value = Int(fields[1]) else { continue }
            limits[String(fields[0])] = value
        }
        return limits
    }
}

extension SlurmClient {
    /// The limits of the cluster `sbatch` would submit to. `qos` is the one the submission asks
    /// for (`--qos` in sbatch_args), else the association's default. Only `scontrol` is
    /// required; without accounting (or sacctmgr) there is no per-user limit to read.
    func limits(partition: String?, qos: String?) async throws -> ClusterLimits {
        let config = ClusterLimits.parseConfig(try await run("scontrol", ["show", "config"]))
        var limits = ClusterLimits()
        limits.maxArraySize = config["MaxArraySize"].flatMap { Int($0) }
        limits.maxJobCount = config["MaxJobCount"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
        if limits.maxJobCount != nil {
            limits.jobsInSystem = (try? await run("squeue", ["--noheader", "--all", "--array", "--states=all", "--format=%i"]))
                .map { $0.split(separator: "\n").count } ?? 0
        }
        limits.cpus = (try? await run("sinfo", ["--noheader", "--format=%C"] + (partition.map { ["--partition=\($0)"] } ?? [])))
            .flatMap(ClusterLimits.parseCPUs)
        guard let storage = config["AccountingStorageType"], !storage.hasSuffix("/none"),
              case let user = NSUserName(), !user.isEmpty
        else { return limits }
        let associations = (try? await run("sacctmgr", ["--noheader", "--parsable2", "show", "association", "where", "user=\(user)",
                                                        "format=Cluster,Account,MaxSubmit,QOS,DefaultQOS"]))
            .map(ClusterLimits.parseAssociations)
        var tightest = associations?.limit
        if let name = qos ?? associations?.qos.first,
           let perUser = (try? await run("sacctmgr", ["--noheader", "--parsable2", "show", "qos", "format=Name,MaxSubmitPU"]))
               .map(ClusterLimits.parseQOS)?[name], perUser < tightest?.0 ?? .max {
            tightest = (perUser, "QOS \(name)")
        }
        if let tightest {
            limits.userSubmitLimit = (tightest.0, tightest.1)
            limits.userJobs = (try? await run("squeue", ["--noheader", "--array", "--user=\(user)", "--format=%i"]))
                .map { $0.split(separator: "\n").count } ?? 0
        }
        return limits
    }
}
