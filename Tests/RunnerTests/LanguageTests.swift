import Foundation
import XCTest
@testable import TestSupport

/// Hello world, stdin, compile errors and runtime errors in every language a runner offers.
final class LanguageTests: RunnerTestCase {
    static let allLanguages = ["python", "javascript", "typescript", "c", "cpp", "java", "go", "ruby"]

    /// Each program prints "Hello, world!" and then greets the first line of stdin.
    static let hello: [String: String] = [
        "python": """
        name = input()
        print("Hello, world!")
        print(f"Hello, {name}!")
        """,
        "javascript": """
        const name = require('fs').readFileSync(0, 'utf8').split('\\n')[0];
        console.log('Hello, world!');
        console.log(`Hello, ${name}!`);
        """,
        "typescript": """
        const input: string = require('fs').readFileSync(0, 'utf8');
        const name: string = input.split('\\n')[0];
        function greet(who: string): string { return `Hello, ${who}!`; }
        console.log(greet('world'));
        console.log(greet(name));
        """,
        "c": """
        #include <stdio.h>
        #include <string.h>
        int main(void) {
            char name[100];
            if (!fgets(name, sizeof name, stdin)) return 1;
            name[strcspn(name, "\\n")] = 0;
            printf("Hello, world!\\nHello, %s!\\n", name);
            return 0;
        }
        """,
        "cpp": """
        #include <iostream>
        #include <string>
        int main() {
            std::string name;
            std::getline(std::cin, name);
            std::cout << "Hello, world!" << std::endl << "Hello, " << name << "!" << std::endl;
        }
        """,
        "java": """
        import java.io.*;
        import java.nio.charset.StandardCharsets;

        public class Main {
            public static void main(String[] args) throws IOException {
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                String name = in.readLine();
                PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
                out.println("Hello, world!");
                out.println("Hello, " + name + "!");
            }
        }
        """,
        "go": """
        package main

        import (
        \t"bufio"
        \t"fmt"
        \t"os"
        \t"strings"
        )

        func main() {
        \tname, _ := bufio.NewReader(os.Stdin).ReadString('\\n')
        \tfmt.Println("Hello, world!")
        \tfmt.Printf("Hello, %s!\\n", strings.TrimRight(name, "\\n"))
        }
        """,
        "ruby": """
        name = gets.chomp
        puts "Hello, world!"
        puts "Hello, #{name}!"
        """,
    ]

    func testLanguagesOfferedAreThoseOfLiveRunners() throws {
        let available = try availableLanguages()
        XCTAssertFalse(available.isEmpty, "no language is available")
        XCTAssertEqual(Set(available), Set(runner.languages), "GET /languages must show what the live runner registered")
        if isCI() {
            XCTAssertEqual(Set(available), Set(Self.allLanguages), "in CI (scripts/setup) every toolchain must be installed and offered")
        }
        // Each registered language carries the version the runner found.
        for language in (runner.info["languages"] as? [[String: Any]]) ?? [] {
            XCTAssertFalse((language["version"] as? String ?? "").isEmpty, "\(language)")
        }
    }

    func testHelloWorldAndStdinInEveryOfferedLanguage() throws {
        let available = try availableLanguages()
        for language in available {
            guard let code = Self.hello[language] else { XCTFail("no hello-world program for \(language)"); continue }
            let result = try run(language, code, stdin: "Grâce Hopper\nignored\n")
            assertStatus(result, "ok")
            XCTAssertEqual(result["stdout"] as? String, "Hello, world!\nHello, Grâce Hopper!\n", "\(language)")
            XCTAssertEqual(result["exit_code"] as? Int, 0, "\(language)")
            XCTAssertEqual(result["language"] as? String, language)
            XCTAssertEqual(result["runner_id"] as? String, runner.nodeID)
            XCTAssertEqual(result["truncated"] as? Bool, false)
            let time = result["time_ms"] as? [String: Any]
            XCTAssertNotNil(time?["cpu"] as? Int, "\(language): time_ms.cpu")
            XCTAssertGreaterThan(time?["wall"] as? Int ?? 0, 0, "\(language): time_ms.wall")
            XCTAssertGreaterThan(result["memory_kb"] as? Int ?? 0, 0, "\(language): memory_kb from the kernel")
        }
    }

    func testTemplatesRunInEveryOfferedLanguage() throws {
        for language in try availableLanguages() {
            let template = try call("GET", "/languages/\(language)/template", timeout: 5).object["template"] as? String ?? ""
            let result = try run(language, template)
            assertStatus(result, "ok")
            XCTAssertEqual(result["stdout"] as? String, "Hello, world!\n", "\(language)")
        }
    }

    func testCompileErrorIsItsOwnStatus() throws {
        let broken: [String: (code: String, mentions: String)] = [
            "c": ("int main(void) { return undeclared; }\n", "undeclared"),
            "cpp": ("int main() { std::cout << 1; }\n", "cout"),
            "java": ("public class Main { public static void main(String[] a) { int x = \"text\" } }\n", "error"),
            "go": ("package main\n\nfunc main() {\n\tx := 1\n}\n", "declared"),
            "typescript": ("const n: number = 'not a number';\nconsole.log(n);\n", "TS2322"),
        ]
        let available = try availableLanguages()
        XCTAssertTrue(available.contains("c") || !isCI(), "C must be offered in CI")
        for (language, program) in broken.sorted(by: { $0.key < $1.key }) where available.contains(language) {
            let result = try run(language, program.code)
            assertStatus(result, "compile_error")
            let output = result["compile_output"] as? String ?? ""
            XCTAssertTrue(output.contains(program.mentions), "\(language) compile output should mention \(program.mentions): \(output)")
            XCTAssertEqual(result["stdout"] as? String, "", "\(language): nothing ran")
            XCTAssertTrue(result["exit_code"] is NSNull, "\(language): no exit code without a run")
            XCTAssertNotNil(result["compile"] as? [String: Any], "\(language): compile step details")
        }
    }

    func testRuntimeErrors() throws {
        let available = try availableLanguages()
        let python = try run("python", "def f():\n    raise ValueError('boom')\nf()\n")
        assertStatus(python, "runtime_error")
        XCTAssertEqual(python["exit_code"] as? Int, 1)
        XCTAssertTrue((python["stderr"] as? String ?? "").contains("ValueError: boom"), "\(python)")

        if available.contains("c") {
            let segfault = try run("c", "int main(void) { volatile int *p = 0; return *p; }\n")
            assertStatus(segfault, "runtime_error")
            XCTAssertEqual(segfault["signal"] as? Int, 11, "\(segfault)")
            XCTAssertEqual(segfault["signal_name"] as? String, "SIGSEGV")
            XCTAssertTrue(segfault["exit_code"] is NSNull)
        }
        if available.contains("javascript") {
            let thrown = try run("javascript", "throw new Error('bad input');\n")
            assertStatus(thrown, "runtime_error")
            XCTAssertTrue((thrown["stderr"] as? String ?? "").contains("bad input"))
        }
        if available.contains("ruby") {
            let exit = try run("ruby", "puts 'partial'\nexit 3\n")
            assertStatus(exit, "runtime_error")
            XCTAssertEqual(exit["exit_code"] as? Int, 3)
            XCTAssertEqual(exit["stdout"] as? String, "partial\n", "output before the failure is kept")
        }
        if available.contains("java") {
            let thrown = try run("java", "public class Main { public static void main(String[] a) { int[] x = new int[1]; x[2] = 1; } }\n")
            assertStatus(thrown, "runtime_error")
            XCTAssertTrue((thrown["stderr"] as? String ?? "").contains("ArrayIndexOutOfBoundsException"))
        }
    }
}
