/// A language the platform can run, with the starter code a new session shows.
public struct Language: Sendable {
    public let id: String
    public let name: String
    /// The toolchain version Debian 12 ships (runners report what they actually have).
    public let version: String
    public let fileExtension: String
    public let template: String

    public static let all: [Language] = [
        Language(id: "python", name: "Python", version: "3.11", fileExtension: "py",
                 template: "def main():\n    print(\"Hello, world!\")\n\n\nif __name__ == \"__main__\":\n    main()\n"),
        Language(id: "javascript", name: "JavaScript (Node.js)", version: "18", fileExtension: "js",
                 template: "function main() {\n  console.log(\"Hello, world!\");\n}\n\nmain();\n"),
        Language(id: "typescript", name: "TypeScript", version: "4.9", fileExtension: "ts",
                 template: "function main(): void {\n  console.log(\"Hello, world!\");\n}\n\nmain();\n"),
        Language(id: "c", name: "C", version: "gcc 12", fileExtension: "c",
                 template: "#include <stdio.h>\n\nint main(void) {\n    printf(\"Hello, world!\\n\");\n    return 0;\n}\n"),
        Language(id: "cpp", name: "C++", version: "g++ 12", fileExtension: "cpp",
                 template: "#include <iostream>\n\nint main() {\n    std::cout << \"Hello, world!\" << std::endl;\n    return 0;\n}\n"),
        Language(id: "java", name: "Java", version: "17", fileExtension: "java",
                 template: "public class Main {\n    public static void main(String[] args) {\n        System.out.println(\"Hello, world!\");\n    }\n}\n"),
        Language(id: "go", name: "Go", version: "1.19", fileExtension: "go",
                 template: "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"Hello, world!\")\n}\n"),
        Language(id: "ruby", name: "Ruby", version: "3.1", fileExtension: "rb",
                 template: "def main\n  puts \"Hello, world!\"\nend\n\nmain\n"),
    ]

    public static func named(_ id: String) -> Language? { all.first { $0.id == id } }

    public static let ids: [String] = all.map(\.id)
}
