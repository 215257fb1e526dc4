import Mustache

/// Escaping of labels and headers (manifest text) for each output format. Templates select one
/// with `{{% CONTENT_TYPE: LATEX}}` or `{{% CONTENT_TYPE: MARKDOWN}}`; `{{name}}` is then escaped.
enum TextEscaping {
    /// LaTeX's special characters, and the Unicode symbols the papers' headers use, which
    /// pdflatex cannot typeset from UTF-8 without extra packages.
    static func latex(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\textbackslash{}"
            case "&", "%", "$", "#", "_", "{", "}": out += "\\\(character)"
            case "~": out += "\\textasciitilde{}"
            case "^": out += "\\textasciicircum{}"
            case "Δ": out += "$\\Delta$"
            case "ρ": out += "$\\rho$"
            case "±": out += "$\\pm$"
            case "↑": out += "$\\uparrow$"
            case "↓": out += "$\\downarrow$"
            case "×": out += "$\\times$"
            case "†": out += "\\dag{}"
            case "—": out += "---"
            case "–": out += "--"
            // The kernel's \surd and \times: \checkmark would need amssymb beside booktabs.
            case "✓": out += "$\\surd$"
            case "✕": out += "$\\times$"
            default: out.append(character)
            }
        }
        return out
    }

    /// Characters that would break a Markdown table cell or start emphasis or HTML.
    static func markdown(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\", "|", "*", "_", "`", "<", "[", "]": out += "\\\(character)"
            case "\n": out += " "
            default: out.append(character)
            }
        }
        return out
    }

    struct LaTeX: MustacheContentType {
        func escapeText(_ text: String) -> String { TextEscaping.latex(text) }
    }

    struct Markdown: MustacheContentType {
        func escapeText(_ text: String) -> String { TextEscaping.markdown(text) }
    }

    /// Registration is global in swift-mustache and must happen before templates are parsed.
    static let registered: Bool = {
        MustacheContentTypes.register(LaTeX(), named: "LATEX")
        MustacheContentTypes.register(Markdown(), named: "MARKDOWN")
        return true
    }()
}
