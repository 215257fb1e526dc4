import Foundation
import Testing
@testable import Engine

@Suite struct MethodConfigTests {
    func parse(_ json: String) throws -> RunConfig {
        try RunConfig.parse(Data(json.utf8), file: "runs/x/config.json")
    }

    func options(_ json: String) throws -> MethodOptions {
        try MethodOptions(config: try parse(json), file: "runs/x/config.json")
    }

    func error(_ json: String) -> ConfigError? {
        do { _ = try parse(json); return nil } catch let error as ConfigError { return error } catch { return nil }
    }

    @Test func methodDefaultsFollowTheKind() throws {
        #expect(try options(#"{"kind": "mtl_full"}"#).method == .full)
        #expect(try options(#"{"kind": "mtl_decoders", "pretrained": "/dev/null"}"#).method == .decoders)
        let lora = try options(#"{"kind": "single_task", "task": "semseg", "method": "lora", "rank": 8}"#)
        #expect(lora.method == .lora && lora.rank == 8 && lora.adapter == .lora && lora.scale == .raw(4))
        #expect(lora.rankShrinking == nil && lora.othersTrain)
    }

    @Test func loraOptionsAreRead() throws {
        let o = try options("""
            {"kind": "mtl_full", "method": "lora", "adapter": "dora", "rank": 12, "lora_scale_convention": "alpha_over_r",
             "lora_alpha": 24, "adapter_locations": "attn", "others_trainable": false, "pdrs": true, "rho_shared": 0.9,
             "pdrs_ema_decay": 0.8, "pdrs_ema_start": "first_observation", "adapt_patch_merging": true}
            """)
        #expect(o.adapter == .dora && o.rank == 12 && o.scale == .alphaOverRank(alpha: 24))
        #expect(o.scale.factor(rank: 12) == 2)
        #expect(o.locations == .attn && !o.othersTrain && o.adaptPatchMerging)
        #expect(o.rankShrinking == .init(rhoShared: 0.9, rhoTask: 0.95, decay: 0.8, emaStart: .firstObservation))
    }

    /// LoRA dropout and drop path: the papers' values as the presets (MTLoRA's configs: 0.05 and
    /// 0.2; TGLoRA's supplementary: dropout 0.05, MTLoRA's recipe otherwise; FAAR: MTLoRA's).
    @Test func regularisationPresetsFollowThePapers() throws {
        for json in [#"{"kind": "mtl_full", "method": "mtlora"}"#, #"{"kind": "mtl_full", "method": "faar"}"#,
                     #"{"kind": "mtl_full", "method": "tglora", "groups_per_stage": [1, 1, 1, 4]}"#] {
            let preset = try options(json)
            #expect(preset.loraDropout == 0.05 && preset.dropPathRate == 0.2, "\(json)")
        }
        let lora = try options(#"{"kind": "mtl_full", "method": "lora"}"#)
        #expect(lora.loraDropout == 0 && lora.dropPathRate == 0)
        let set = try options(#"{"kind": "mtl_full", "method": "mtlora", "lora_dropout": 0, "drop_path_rate": 0.1}"#)
        #expect(set.loraDropout == 0 && set.dropPathRate == 0.1)
        #expect(try options(#"{"kind": "mtl_full", "drop_path_rate": 0.1}"#).dropPathRate == 0.1)
        #expect(error(#"{"kind": "mtl_full", "lora_dropout": 0.1}"#)?.key == "lora_dropout")
    }

    @Test func keysThatDoNotFitTheMethodNameTheKeyAndLine() throws {
        let found = try #require(error("{\n  \"kind\": \"mtl_full\",\n  \"rank\": 4\n}"))
        #expect(found.key == "rank" && found.line == 3)
        #expect(found.message.contains("only the low-rank methods"))
        #expect(error(#"{"kind": "mtl_full", "method": "lora", "rho_task": 0.9}"#)?.key == "rho_task")
        #expect(error(#"{"kind": "mtl_full", "method": "lora", "lora_alpha": 8}"#)?.key == "lora_alpha")
        #expect(error(#"{"kind": "mtl_full", "method": "lora", "groups_per_stage": [1, 2, 3, 4]}"#)?.key == "groups_per_stage")
        #expect(error(#"{"kind": "mtl_decoders", "pretrained": "/dev/null", "method": "lora"}"#)?.key == "method")
        #expect(error(#"{"kind": "single_task", "task": "semseg", "method": "mtlora"}"#)?.key == "method")
        #expect(error(#"{"kind": "mtl_full", "method": "lora", "ts_pd": false, "xt_cons": true}"#)?.key == "xt_cons")
        #expect(error(#"{"kind": "mtl_full", "method": "lora", "adapter": "lorra"}"#)?.message.contains("did you mean 'lora'?") == true)
    }

    @Test func taskStreamMethodsAreRead() throws {
        let faar = try options(#"{"kind": "mtl_full", "method": "faar", "task_specific_stages": "4,3", "rho_task": 0.8}"#)
        #expect(faar.adapter == .dora && faar.rank == 32 && faar.taskRank == 32 && faar.taskSpecificStages == [3, 4])
        #expect(faar.rankShrinking?.rhoTask == 0.8 && faar.spectralFilter && faar.crossTaskConsensus && faar.othersTrain)
        #expect(faar.rankShrinking?.emaStart == .biasCorrected)
        // FAAR §4.4: "r_init defines the initial rank of all layers", task-specific ones included.
        #expect(try options(#"{"kind": "mtl_full", "method": "faar", "rank": 8}"#).taskRank == 8)
        #expect(try options(#"{"kind": "mtl_full", "method": "faar", "rank": 8, "task_rank": 4}"#).taskRank == 4)
        #expect(try options(#"{"kind": "mtl_full", "method": "mtlora", "rank": 8}"#).taskRank == 4)
        let mtlora = try options(#"{"kind": "mtl_full", "method": "mtlora", "adapter_locations": "attn_mlp_others"}"#)
        #expect(mtlora.adapter == .lora && mtlora.rankShrinking == nil && !mtlora.spectralFilter && mtlora.othersTrain)
        #expect(error(#"{"kind": "mtl_full", "method": "mtlora", "adapter_locations": "attn"}"#)?.key == "adapter_locations")
        #expect(error(#"{"kind": "mtl_full", "method": "lora", "adapter_locations": "attn_mlp_others", "others_trainable": false}"#)?
            .key == "others_trainable")
    }
}
