#!/usr/bin/python3
"""Generates jextract-shaped (JDK 22) java.lang.foreign bindings for the headers listed in headers.json.

Parses the headers as C11 for x86-64 Linux (LP64: C long is 64 bits) with libclang 16 and writes one header class
(split into a superclass chain when large), one class per struct/union and one class per function-pointer typedef.
Modes: default writes the Java tree; --probe writes a C program printing every struct's size, alignment and field
offsets as gcc sees them (for the ABI test).
"""
import argparse
import codecs
import ctypes
import glob
import json
import os
import subprocess
import sys

try:
    import clang.cindex as ci
except ImportError:
    sys.exit("generate.py: the Python module 'clang' is missing; install the Debian package python3-clang-16")

HERE = os.path.dirname(os.path.abspath(__file__))
LLVM_VERSION = "16"
JAVA_KEYWORDS = set("""abstract assert boolean break byte case catch char class const continue default do double else
enum extends final finally float for goto if implements import instanceof int interface long native new package private
protected public return short static strictfp super switch synchronized this throw throws transient try void volatile
while true false null var yield record sealed permits non-sealed _""".split())


class Unsupported(Exception):
    """A C type that has no FFM mapping (the declaration using it is skipped and reported)."""


def find_libclang():
    candidates = [os.environ.get("QWENVL_LIBCLANG", "")]
    candidates += [f"/usr/lib/llvm-{LLVM_VERSION}/lib/libclang-{LLVM_VERSION}.so.1",
                   f"/usr/lib/llvm-{LLVM_VERSION}/lib/libclang.so.1"]
    candidates += sorted(glob.glob(f"/usr/lib/*/libclang-{LLVM_VERSION}.so.1"))
    for c in candidates:
        if c and os.path.isfile(c):
            return c
    sys.exit(f"generate.py: libclang {LLVM_VERSION} not found (tried {', '.join(c for c in candidates if c)}); "
             f"install the Debian package libclang1-{LLVM_VERSION} or set QWENVL_LIBCLANG")


def find_builtin_includes():
    found = sorted(glob.glob(f"/usr/lib/llvm-{LLVM_VERSION}/lib/clang/*/include/stddef.h"))
    if not found:
        sys.exit(f"generate.py: clang's builtin headers (stddef.h) not found under /usr/lib/llvm-{LLVM_VERSION}/lib/clang; "
                 f"install the Debian package libclang-common-{LLVM_VERSION}-dev")
    return os.path.dirname(found[-1])


def init_clang():
    ci.Config.set_library_file(find_libclang())
    lib = ci.conf.lib
    # Entry points that python3-clang-16 does not wrap: macro kinds and constant evaluation.
    lib.clang_Cursor_isMacroFunctionLike.argtypes = [ci.Cursor]
    lib.clang_Cursor_isMacroFunctionLike.restype = ctypes.c_uint
    lib.clang_Cursor_Evaluate.argtypes = [ci.Cursor]
    lib.clang_Cursor_Evaluate.restype = ctypes.c_void_p
    for name, res in [("clang_EvalResult_getKind", ctypes.c_int), ("clang_EvalResult_isUnsignedInt", ctypes.c_uint),
                      ("clang_EvalResult_getAsUnsigned", ctypes.c_ulonglong),
                      ("clang_EvalResult_getAsLongLong", ctypes.c_longlong),
                      ("clang_EvalResult_getAsDouble", ctypes.c_double), ("clang_EvalResult_getAsStr", ctypes.c_char_p),
                      ("clang_EvalResult_dispose", None)]:
        getattr(lib, name).argtypes = [ctypes.c_void_p]
        getattr(lib, name).restype = res
    return lib


class Config:
    def __init__(self, path, llama_src, repo):
        with open(path) as f:
            raw = json.load(f)
        roots = {"llama": llama_src, "repo": repo}
        self.roots = list(roots.values())
        self.package = raw["package"]
        self.header_class = raw["header_class"]
        self.target = raw["target"]
        self.headers = [os.path.join(roots[h["root"]], h["path"]) for h in raw["headers"]]
        self.header_names = [h["path"] for h in raw["headers"]]
        self.include_dirs = [os.path.join(roots[d["root"]], d["path"]) for d in raw["include_dirs"]]
        self.defines = raw["defines"]
        self.functions_per_class = raw["functions_per_class"]
        self.not_exported = raw.get("not_exported", {})
        for h in self.headers:
            if not os.path.isfile(h):
                sys.exit(f"generate.py: header {h} does not exist")

    def clang_args(self):
        args = ["-x", "c", "-std=c11", "-target", self.target, "-isystem", find_builtin_includes()]
        args += ["-I" + d for d in self.include_dirs]
        args += ["-D" + d for d in self.defines]
        return args

    def umbrella(self):
        return "".join(f'#include "{h}"\n' for h in self.headers)


def parse(cfg, extra=""):
    name = os.path.join(HERE, "qwenvl_umbrella.c")
    tu = ci.Index.create().parse(name, args=cfg.clang_args(), unsaved_files=[(name, cfg.umbrella() + extra)],
                                 options=ci.TranslationUnit.PARSE_DETAILED_PROCESSING_RECORD
                                 | ci.TranslationUnit.PARSE_SKIP_FUNCTION_BODIES)
    return tu, name


def check_diagnostics(tu):
    errors = [str(d) for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
    if errors:
        sys.exit("generate.py: the headers do not parse as C:\n  " + "\n  ".join(errors))


# ---------------------------------------------------------------------------------------------------------------
# C types to layouts and Java carriers

PRIMITIVES = {  # clang kind -> (layout constant, Java carrier, ValueLayout subtype)
    ci.TypeKind.BOOL: ("C_BOOL", "boolean", "OfBoolean"),
    ci.TypeKind.CHAR_S: ("C_CHAR", "byte", "OfByte"), ci.TypeKind.CHAR_U: ("C_CHAR", "byte", "OfByte"),
    ci.TypeKind.SCHAR: ("C_CHAR", "byte", "OfByte"), ci.TypeKind.UCHAR: ("C_CHAR", "byte", "OfByte"),
    ci.TypeKind.SHORT: ("C_SHORT", "short", "OfShort"), ci.TypeKind.USHORT: ("C_SHORT", "short", "OfShort"),
    ci.TypeKind.INT: ("C_INT", "int", "OfInt"), ci.TypeKind.UINT: ("C_INT", "int", "OfInt"),
    ci.TypeKind.LONG: ("C_LONG", "long", "OfLong"), ci.TypeKind.ULONG: ("C_LONG", "long", "OfLong"),
    ci.TypeKind.LONGLONG: ("C_LONG_LONG", "long", "OfLong"), ci.TypeKind.ULONGLONG: ("C_LONG_LONG", "long", "OfLong"),
    ci.TypeKind.FLOAT: ("C_FLOAT", "float", "OfFloat"), ci.TypeKind.DOUBLE: ("C_DOUBLE", "double", "OfDouble"),
    ci.TypeKind.POINTER: ("C_POINTER", "MemorySegment", "AddressLayout"),
}


def canonical(t):
    t = t.get_canonical()
    if t.kind == ci.TypeKind.ENUM:
        t = t.get_declaration().enum_type.get_canonical()
    return t


def is_function_pointer(t):
    t = t.get_canonical()
    return t.kind == ci.TypeKind.POINTER and t.get_pointee().kind in (ci.TypeKind.FUNCTIONPROTO,
                                                                      ci.TypeKind.FUNCTIONNOPROTO)


class DecayedPointer:
    """An array parameter, which C passes as a pointer to its first element."""
    kind = ci.TypeKind.POINTER

    def __init__(self, array):
        self.spelling = array.spelling

    def get_canonical(self):
        return self


def param_types(fn_type):
    if fn_type.kind != ci.TypeKind.FUNCTIONPROTO:
        return []
    arrays = (ci.TypeKind.CONSTANTARRAY, ci.TypeKind.INCOMPLETEARRAY, ci.TypeKind.VARIABLEARRAY)
    return [DecayedPointer(t) if t.get_canonical().kind in arrays else t for t in fn_type.argument_types()]


def java_ident(name):
    return name + "_" if name in JAVA_KEYWORDS else name


def comment_safe(text):
    return text.replace("*/", "*\\/")


class Model:
    """Everything that gets emitted, collected from one parse of the umbrella header."""

    def __init__(self, cfg, lib):
        self.cfg = cfg
        self.lib = lib
        self.tu, self.umbrella_name = parse(cfg)
        check_diagnostics(self.tu)
        self.header_set = set(os.path.realpath(h) for h in cfg.headers)
        self.roots = [os.path.realpath(r) for r in cfg.roots]
        self.records = {}  # usr -> Java class name, for every record emitted
        self.nested = {}  # usr -> [(field name, record cursor)] of field types declared inline as anonymous records
        self.record_decls = []  # (java name, cursor) in emission order
        self.typedef_aliases = []  # (alias name, target record Java name)
        self.callbacks = []  # (name, cursor of the typedef)
        self.functions = []  # cursors
        self.header_items = []  # ("macro"|"enum"|"typedef", ...) in source order
        self.skipped = []  # (what, why)
        self.dependencies = []  # names pulled in from headers outside the list
        self.collect()

    def in_listed(self, cur):
        f = cur.location.file
        return f is not None and os.path.realpath(f.name) in self.header_set

    def in_project(self, cur):
        f = cur.location.file
        return f is not None and any(os.path.realpath(f.name).startswith(r + os.sep) for r in self.roots)

    def collect(self):
        seen_functions = set()
        pending = []  # declarations from other headers that the listed surface needs by value or by name
        for cur in self.tu.cursor.get_children():
            if not self.in_listed(cur):
                continue
            k = cur.kind
            if k == ci.CursorKind.FUNCTION_DECL:
                if cur.spelling in seen_functions:
                    continue
                seen_functions.add(cur.spelling)
                if cur.storage_class == ci.StorageClass.STATIC:
                    self.skipped.append((cur.spelling, "static function: no exported symbol"))
                    continue
                if cur.spelling in self.cfg.not_exported:
                    self.skipped.append((cur.spelling, self.cfg.not_exported[cur.spelling]))
                    continue
                self.functions.append(cur)
                pending += [cur.result_type] + [a.type for a in cur.get_arguments()]
            elif k in (ci.CursorKind.STRUCT_DECL, ci.CursorKind.UNION_DECL):
                if cur.is_definition():
                    self.add_record(cur, pending)
            elif k == ci.CursorKind.ENUM_DECL:
                if cur.is_definition():
                    self.header_items.append(("enum", cur))
            elif k == ci.CursorKind.TYPEDEF_DECL:
                self.add_typedef(cur, pending)
            elif k == ci.CursorKind.MACRO_DEFINITION:
                self.header_items.append(("macro", cur))
            elif k == ci.CursorKind.VAR_DECL:
                if cur.storage_class == ci.StorageClass.STATIC:
                    self.skipped.append((cur.spelling, "static variable: no exported symbol"))
                else:
                    self.header_items.append(("global", cur))
        self.close_dependencies(pending)
        self.shadowing = {c.spelling for c in self.functions} | {c.spelling for k, c in self.header_items}
        for k, c in self.header_items:
            if k == "enum":
                self.shadowing |= {e.spelling for e in c.get_children()}
        for _, rec in self.record_decls:
            self.shadowing |= {f.spelling for f in rec.type.get_fields()}

    def add_record(self, cur, pending, outer=None):
        usr = cur.get_usr()
        if usr in self.records or (cur.is_anonymous() and outer is None):
            return
        name = cur.spelling if outer is None else outer
        self.records[usr] = name
        if outer is None:
            self.record_decls.append((name, cur))
        self.nested[usr] = []
        for f in cur.type.get_fields():
            decl = f.type.get_canonical().get_declaration()
            if f.spelling and decl.kind in (ci.CursorKind.STRUCT_DECL, ci.CursorKind.UNION_DECL) \
                    and decl.is_anonymous():
                # struct { ... } field; becomes the nested class <outer>.<field>, as jextract names it.
                self.nested[usr].append((f.spelling, decl))
                self.add_record(decl, pending, f"{name}.{java_ident(f.spelling)}")
            elif not f.spelling:
                self.add_record(decl, pending, name)  # anonymous member: flattened into the outer record
            else:
                pending.append(f.type)

    def add_typedef(self, cur, pending):
        name = cur.spelling
        under = cur.underlying_typedef_type
        can = under.get_canonical()
        if is_function_pointer(under) or can.kind in (ci.TypeKind.FUNCTIONPROTO, ci.TypeKind.FUNCTIONNOPROTO):
            if name not in (n for n, _ in self.callbacks):
                self.callbacks.append((name, cur))
                fn = can.get_pointee() if can.kind == ci.TypeKind.POINTER else can
                pending += [fn.get_result()] + list(fn.argument_types())
            return
        if can.kind == ci.TypeKind.RECORD:
            decl = can.get_declaration()
            if not decl.is_definition():
                return  # opaque: only ever used through C_POINTER
            if decl.spelling != name:
                self.add_record(decl, pending)
                self.typedef_aliases.append((name, decl.get_usr()))
            else:
                self.add_record(decl, pending)
            return
        self.header_items.append(("typedef", cur))

    def close_dependencies(self, pending):
        # Typedefs and by-value records that the listed surface names but that live in other project headers
        # (ggml-opt.h, ggml-alloc.h); system headers only contribute primitive typedefs resolved to their layouts.
        while pending:
            t = pending.pop()
            if t.kind in (ci.TypeKind.ELABORATED, ci.TypeKind.TYPEDEF):
                decl = t.get_declaration()
                if decl.kind == ci.CursorKind.TYPEDEF_DECL and not self.in_listed(decl) \
                        and self.in_project(decl) and is_function_pointer(decl.underlying_typedef_type):
                    if decl.spelling not in (n for n, _ in self.callbacks):
                        self.dependencies.append(decl.spelling)
                        self.add_typedef(decl, pending)
                        continue
            can = t.get_canonical()
            if can.kind == ci.TypeKind.CONSTANTARRAY:
                pending.append(can.element_type)
            elif can.kind == ci.TypeKind.RECORD:
                decl = can.get_declaration()
                if decl.is_definition() and decl.get_usr() not in self.records and not decl.is_anonymous():
                    if not self.in_listed(decl):
                        if not self.in_project(decl):
                            continue
                        self.dependencies.append(decl.spelling)
                    self.add_record(decl, pending)

    # -- type mapping -------------------------------------------------------------------------------------------

    def layout(self, t, hc):
        """Java expression of the layout of C type t, inside class code where hc names the header class."""
        can = canonical(t)
        if can.kind in PRIMITIVES:
            return f"{hc}.{PRIMITIVES[can.kind][0]}"
        if can.kind == ci.TypeKind.RECORD:
            name = self.record_name(can)
            # A C function may share its name with a struct tag (ggml_backend_graph_copy): qualify the class.
            return f"{self.cfg.package + '.' if name in self.shadowing else ''}{name}.layout()"
        if can.kind == ci.TypeKind.CONSTANTARRAY:
            return f"MemoryLayout.sequenceLayout({can.element_count}, {self.layout(can.element_type, hc)})"
        raise Unsupported(f"C type '{t.spelling}' ({can.kind.name})")

    def carrier(self, t):
        can = canonical(t)
        if can.kind in PRIMITIVES:
            return PRIMITIVES[can.kind][1]
        if can.kind in (ci.TypeKind.RECORD, ci.TypeKind.CONSTANTARRAY):
            return "MemorySegment"
        if can.kind == ci.TypeKind.VOID:
            return "void"
        raise Unsupported(f"C type '{t.spelling}' ({can.kind.name})")

    def layout_type(self, t):
        can = canonical(t)
        if can.kind in PRIMITIVES:
            return PRIMITIVES[can.kind][2]
        return {ci.TypeKind.RECORD: "GroupLayout", ci.TypeKind.CONSTANTARRAY: "SequenceLayout"}[can.kind]

    def record_name(self, can):
        decl = can.get_declaration()
        usr = decl.get_usr()
        if usr not in self.records:
            raise Unsupported(f"record '{can.spelling}' has no generated class")
        return self.records[usr]

    def is_struct_value(self, t):
        return canonical(t).kind == ci.TypeKind.RECORD

    def descriptor(self, result, args, hc):
        """FunctionDescriptor expression; raises Unsupported for types FFM cannot pass."""
        arg_layouts = [self.layout(a, hc) for a in args]
        if canonical(result).kind == ci.TypeKind.VOID:
            head = "FunctionDescriptor.ofVoid("
        else:
            head = "FunctionDescriptor.of("
            arg_layouts = [self.layout(result, hc)] + arg_layouts
        if not arg_layouts:
            return head + ")"
        return head + "\n" + ",\n".join("        " + x for x in arg_layouts) + "\n    )"


def param_names(cursors, count):
    names = []
    for i in range(count):
        n = cursors[i].spelling if i < len(cursors) and cursors[i].spelling else f"x{i}"
        names.append(java_ident(n))
    return names


def c_declarator(type_spelling, name):
    """'float[2]' and 'dims' -> 'float dims[2]'."""
    base, bracket, dims = type_spelling.partition("[")
    return f"{base.strip()} {name}{bracket}{dims}".strip() if bracket else f"{type_spelling} {name}".strip()


def c_signature(result, name, params):
    """One-line C declaration for the javadoc snippets."""
    return f"{result.spelling} {name}({', '.join(params) if params else ''})"


# ---------------------------------------------------------------------------------------------------------------
# Java emission

class Emitter:
    def __init__(self, model, tree_id):
        self.m = model
        self.cfg = model.cfg
        self.hc = self.cfg.header_class
        self.tree_id = tree_id
        self.files = {}  # file name -> text

    def preamble(self):
        return (f"// Generated by bindings/generator from {', '.join(self.cfg.header_names)} of llama.cpp tree "
                f"{self.tree_id}. Do not edit.\n\n"
                f"package {self.cfg.package};\n\n"
                "import java.lang.invoke.*;\n"
                "import java.lang.foreign.*;\n"
                "import java.nio.ByteOrder;\n"
                "import java.util.*;\n"
                "import java.util.function.*;\n"
                "import java.util.stream.*;\n\n"
                "import static java.lang.foreign.ValueLayout.*;\n"
                "import static java.lang.foreign.MemoryLayout.PathElement.*;\n\n")

    # -- header class -------------------------------------------------------------------------------------------

    def shared_members(self):
        hc = self.hc
        return f"""    static final SymbolLookup SYMBOL_LOOKUP = SymbolLookup.loaderLookup()
            .or(Linker.nativeLinker().defaultLookup());

    static MemorySegment findOrThrow(String symbol) {{
        return SYMBOL_LOOKUP.find(symbol)
            .orElseThrow(() -> new UnsatisfiedLinkError("unresolved symbol: " + symbol));
    }}

    static MethodHandle upcallHandle(Class<?> fi, String name, FunctionDescriptor fdesc) {{
        try {{
            return MethodHandles.lookup().findVirtual(fi, name, fdesc.toMethodType());
        }} catch (ReflectiveOperationException ex) {{
            throw new AssertionError(ex);
        }}
    }}

    // x86-64 Linux (LP64): C long is 64 bits.
    public static final ValueLayout.OfBoolean C_BOOL = ValueLayout.JAVA_BOOLEAN;
    public static final ValueLayout.OfByte C_CHAR = ValueLayout.JAVA_BYTE;
    public static final ValueLayout.OfShort C_SHORT = ValueLayout.JAVA_SHORT;
    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    public static final ValueLayout.OfLong C_LONG_LONG = ValueLayout.JAVA_LONG;
    public static final ValueLayout.OfFloat C_FLOAT = ValueLayout.JAVA_FLOAT;
    public static final ValueLayout.OfDouble C_DOUBLE = ValueLayout.JAVA_DOUBLE;
    public static final AddressLayout C_POINTER = ValueLayout.ADDRESS
            .withTargetLayout(MemoryLayout.sequenceLayout(java.lang.Long.MAX_VALUE, JAVA_BYTE));
    public static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;
"""

    def emit_function(self, cur):
        m, hc = self.m, self.hc
        name = cur.spelling
        ftype = cur.type
        arg_types = param_types(ftype)
        args = list(cur.get_arguments())
        result = ftype.get_result()
        desc = m.descriptor(result, arg_types, hc)
        ret = m.carrier(result)
        names = param_names(args, len(arg_types))
        params = [f"{m.carrier(t)} {n}" for t, n in zip(arg_types, names)]
        call_args = list(names)
        if m.is_struct_value(result):
            alloc = "allocator$" if "allocator" in names else "allocator"
            params.insert(0, f"SegmentAllocator {alloc}")
            call_args.insert(0, alloc)
        c_params = [c_declarator(t.spelling, a.spelling) for t, a in zip(arg_types, args)]
        if ftype.kind == ci.TypeKind.FUNCTIONPROTO and ftype.is_function_variadic():
            c_params.append("...")
        sig = comment_safe(c_signature(result, name, c_params))
        if ftype.kind == ci.TypeKind.FUNCTIONPROTO and ftype.is_function_variadic():
            return self.emit_variadic(name, desc, ret, params, call_args, sig)
        cast = "" if ret == "void" else f"return ({ret})"
        invoke = f"{cast}mh$.invokeExact({', '.join(call_args)});" if cast else \
            f"mh$.invokeExact({', '.join(call_args)});"
        return f"""
    private static class {name} {{
        public static final FunctionDescriptor DESC = {desc.replace(chr(10), chr(10) + "    ")};

        public static final MemorySegment ADDR = {hc}.findOrThrow("{name}");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }}

    /**
     * Function descriptor for:
     * {{@snippet lang=c :
     * {sig}
     * }}
     */
    public static FunctionDescriptor {name}$descriptor() {{
        return {name}.DESC;
    }}

    /**
     * Downcall method handle for:
     * {{@snippet lang=c :
     * {sig}
     * }}
     */
    public static MethodHandle {name}$handle() {{
        return {name}.HANDLE;
    }}

    /**
     * Address for:
     * {{@snippet lang=c :
     * {sig}
     * }}
     */
    public static MemorySegment {name}$address() {{
        return {name}.ADDR;
    }}

    /**
     * {{@snippet lang=c :
     * {sig}
     * }}
     */
    public static {ret} {name}({', '.join(params)}) {{
        var mh$ = {name}.HANDLE;
        try {{
            {invoke}
        }} catch (Throwable ex$) {{
           throw new AssertionError("should not reach here", ex$);
        }}
    }}
"""

    def emit_variadic(self, name, desc, ret, params, call_args, sig):
        hc = self.hc
        cast = "" if ret == "void" else f"return ({ret})"
        call = ", ".join(call_args + ["x$"])
        params = ", ".join(params + ["Object... x$"])
        invoke = f"{cast}spreader.invokeExact({call});" if cast else f"spreader.invokeExact({call});"
        return f"""
    /**
     * Variadic invoker class for:
     * {{@snippet lang=c :
     * {sig}
     * }}
     */
    public static class {name} {{
        private static final FunctionDescriptor BASE_DESC = {desc.replace(chr(10), chr(10) + "    ")};
        private static final MemorySegment ADDR = {hc}.findOrThrow("{name}");

        private final MethodHandle handle;
        private final FunctionDescriptor descriptor;
        private final MethodHandle spreader;

        private {name}(MethodHandle handle, FunctionDescriptor descriptor, MethodHandle spreader) {{
            this.handle = handle;
            this.descriptor = descriptor;
            this.spreader = spreader;
        }}

        /**
         * Variadic invoker factory for:
         * {{@snippet lang=c :
         * {sig}
         * }}
         */
        public static {name} makeInvoker(MemoryLayout... layouts) {{
            FunctionDescriptor desc$ = BASE_DESC.appendArgumentLayouts(layouts);
            Linker.Option fva$ = Linker.Option.firstVariadicArg(BASE_DESC.argumentLayouts().size());
            var mh$ = Linker.nativeLinker().downcallHandle(ADDR, desc$, fva$);
            var spreader$ = mh$.asSpreader(Object[].class, layouts.length);
            return new {name}(mh$, desc$, spreader$);
        }}

        /**
         * {{@return the address}}
         */
        public static MemorySegment address() {{
            return ADDR;
        }}

        /**
         * {{@return the specialized method handle}}
         */
        public MethodHandle handle() {{
            return handle;
        }}

        /**
         * {{@return the specialized descriptor}}
         */
        public FunctionDescriptor descriptor() {{
            return descriptor;
        }}

        public {ret} apply({params}) {{
            try {{
                {invoke}
            }} catch (IllegalArgumentException | ClassCastException ex$) {{
                throw ex$; // rethrow IAE from passing wrong number/type of args
            }} catch (Throwable ex$) {{
               throw new AssertionError("should not reach here", ex$);
            }}
        }}
    }}
"""

    def constant(self, name, jtype, literal, c_text):
        return f"""
    private static final {jtype} {name} = {literal};
    /**
     * {{@snippet lang=c :
     * {comment_safe(c_text)}
     * }}
     */
    public static {jtype} {name}() {{
        return {name};
    }}
"""

    def emit_enum(self, cur):
        can = cur.enum_type.get_canonical()
        jtype = PRIMITIVES[can.kind][1]
        out = []
        for c in cur.get_children():
            if c.kind == ci.CursorKind.ENUM_CONSTANT_DECL:
                v = c.enum_value
                literal = f"(int){v}L" if jtype == "int" else f"{v}L"
                where = f"enum {cur.spelling}" if not cur.is_anonymous() else "enum"
                out.append((c.spelling, self.constant(c.spelling, jtype, literal, f"{where}.{c.spelling} = {v}")))
        return out

    def emit_typedef(self, cur):
        under = cur.underlying_typedef_type
        lt = self.m.layout_type(under)
        return f"""
    /**
     * {{@snippet lang=c :
     * typedef {comment_safe(under.spelling)} {cur.spelling}
     * }}
     */
    public static final {lt} {cur.spelling} = {self.m.layout(under, self.hc)};
"""

    def emit_global(self, cur):
        lt = self.m.layout_type(cur.type)
        jt = self.m.carrier(cur.type)
        name, hc = cur.spelling, self.hc
        return f"""
    private static class {name}$constants {{
        public static final {lt} LAYOUT = {self.m.layout(cur.type, hc)};
        public static final MemorySegment SEGMENT = {hc}.findOrThrow("{name}").reinterpret(LAYOUT.byteSize());
    }}

    public static {lt} {name}$layout() {{
        return {name}$constants.LAYOUT;
    }}

    public static MemorySegment {name}$segment() {{
        return {name}$constants.SEGMENT;
    }}

    public static {jt} {name}() {{
        return {name}$constants.SEGMENT.get({name}$constants.LAYOUT, 0L);
    }}

    public static void {name}({jt} varValue) {{
        {name}$constants.SEGMENT.set({name}$constants.LAYOUT, 0L, varValue);
    }}
"""

    def macro_constants(self):
        """Object-like macros of the listed headers that clang can fold to an integer, float or string constant."""
        lib = self.m.lib
        macros = {}
        for kind, cur in self.m.header_items:
            if kind == "macro" and not lib.clang_Cursor_isMacroFunctionLike(cur):
                if len(list(cur.get_tokens())) > 1:
                    macros[cur.spelling] = cur
        probe_lines = "".join(f"\n__auto_type qwenvl_macro_{n} = ({n});" for n in macros)
        tu, fname = parse(self.cfg, probe_lines)
        bad_lines = {d.location.line for d in tu.diagnostics
                     if d.severity >= ci.Diagnostic.Error and d.location.file and d.location.file.name == fname}
        values = {}
        for cur in tu.cursor.get_children():
            if cur.kind != ci.CursorKind.VAR_DECL or not cur.spelling.startswith("qwenvl_macro_") \
                    or cur.location.file is None or cur.location.file.name != fname:
                continue
            if cur.location.line in bad_lines:
                continue
            name = cur.spelling[len("qwenvl_macro_"):]
            values[name] = self.fold(cur, macros[name])
        return {k: v for k, v in values.items() if v is not None}

    @staticmethod
    def fold_string(macro):
        """A macro made only of plain string literals (libclang does not evaluate those): decode and join them."""
        tokens = [t.spelling for t in macro.get_tokens()][1:]
        while tokens and tokens[0] == "(" and tokens[-1] == ")":
            tokens = tokens[1:-1]
        if not tokens or not all(t.startswith('"') and t.endswith('"') for t in tokens):
            return None
        data = b"".join(codecs.escape_decode(t[1:-1].encode("utf-8"))[0] for t in tokens)
        text = data.decode("utf-8")
        return ("MemorySegment", java_string(text), text)

    def fold(self, var, macro):
        lib = self.m.lib
        can = var.type.get_canonical()
        if can.kind == ci.TypeKind.POINTER:
            return self.fold_string(macro)
        res = lib.clang_Cursor_Evaluate(var)
        if not res:
            return None
        try:
            kind = lib.clang_EvalResult_getKind(res)
            if kind == 1 and can.kind in PRIMITIVES and can.kind != ci.TypeKind.POINTER:
                jtype = PRIMITIVES[can.kind][1]
                if lib.clang_EvalResult_isUnsignedInt(res):
                    v = lib.clang_EvalResult_getAsUnsigned(res)
                else:
                    v = lib.clang_EvalResult_getAsLongLong(res)
                if jtype == "boolean":
                    return ("boolean", "true" if v else "false", v)
                if jtype == "long":
                    return ("long", f"{ctypes.c_longlong(v).value}L", v)
                if jtype in ("int", "short", "byte"):
                    return ("int", f"(int){v}L", v)
                return None
            if kind == 2 and can.kind in (ci.TypeKind.FLOAT, ci.TypeKind.DOUBLE):
                v = lib.clang_EvalResult_getAsDouble(res)
                jtype = PRIMITIVES[can.kind][1]
                return (jtype, repr(v) + ("f" if jtype == "float" else "d"), v)
            return None
        finally:
            lib.clang_EvalResult_dispose(res)

    def string_constant(self, name, literal, c_text):
        return f"""
    /**
     * {{@snippet lang=c :
     * {comment_safe(c_text)}
     * }}
     */
    public static MemorySegment {name}() {{
        class Holder {{
            static final MemorySegment {name}
                = Arena.global().allocateFrom({literal});
        }}
        return Holder.{name};
    }}
"""

    def header_classes(self):
        """Members of the header class in source order, split into a superclass chain as jextract does."""
        macro_values = self.macro_constants()
        members = []  # (name, code, weight)
        # Keep source order: interleave functions with the other items by location.
        items = [(("fn", c), c.location) for c in self.m.functions] + \
                [((k, c), c.location) for k, c in self.m.header_items]
        order = {os.path.realpath(h): i for i, h in enumerate(self.cfg.headers)}
        items.sort(key=lambda x: (order.get(os.path.realpath(x[1].file.name), len(order)), x[1].line, x[1].column))
        for (kind, cur), _ in items:
            try:
                if kind == "fn":
                    variadic = cur.type.kind == ci.TypeKind.FUNCTIONPROTO and cur.type.is_function_variadic()
                    members.append((cur.spelling, self.emit_function(cur), "variadic" if variadic else "function"))
                elif kind == "enum":
                    members += [(n, code, "enum") for n, code in self.emit_enum(cur)]
                elif kind == "typedef":
                    members.append((cur.spelling, self.emit_typedef(cur), "typedef"))
                elif kind == "global":
                    members.append((cur.spelling, self.emit_global(cur), "global"))
                elif kind == "macro" and cur.spelling in macro_values:
                    jtype, literal, value = macro_values[cur.spelling]
                    text = "#define " + " ".join(t.spelling for t in cur.get_tokens())
                    emit = self.string_constant(cur.spelling, literal, text) if jtype == "MemorySegment" \
                        else self.constant(cur.spelling, jtype, literal, text)
                    members.append((cur.spelling, emit, "macro"))
            except Unsupported as e:
                self.m.skipped.append((cur.spelling, str(e)))
        self.members = members
        # jextract splits a large header class into a superclass chain to stay within class-file limits.
        chunks, current, weight = [], [], 0.0
        for mem in members:
            w = 1.0 if mem[2] in ("function", "variadic", "global") else 0.1
            if weight + w > self.cfg.functions_per_class and current:
                chunks.append(current)
                current, weight = [], 0.0
            current.append(mem)
            weight += w
        chunks.append(current)
        names = [self.hc] + [f"{self.hc}_{i}" for i in range(1, len(chunks))]
        for i, chunk in enumerate(chunks):
            name = names[i]
            last = i == len(chunks) - 1
            ext = "" if last else f" extends {names[i + 1]}"
            body = "".join(code for _, code, _ in chunk)
            shared = self.shared_members() if last else ""
            self.files[name] = (self.preamble() + f"public class {name}{ext} {{\n\n"
                                f"    {name}() {{\n        // Should not be called directly\n    }}\n\n"
                                + shared + body + "}\n")

    # -- callbacks ----------------------------------------------------------------------------------------------

    def callback_body(self, name, fn_type, param_cursors, c_text, modifiers):
        m, hc = self.m, self.hc
        if fn_type.kind == ci.TypeKind.FUNCTIONPROTO and fn_type.is_function_variadic():
            raise Unsupported("variadic function pointer")
        arg_types = param_types(fn_type)
        result = fn_type.get_result()
        desc = m.descriptor(result, arg_types, hc)
        ret = m.carrier(result)
        names = param_names(param_cursors, len(arg_types))
        params = [f"{m.carrier(t)} {n}" for t, n in zip(arg_types, names)]
        call_args = list(names)
        inv_params = ["MemorySegment funcPtr"]
        if m.is_struct_value(result):
            inv_params.append("SegmentAllocator alloc$")
            call_args.insert(0, "alloc$")
        inv_params += params
        invoke = (f"return ({ret}) " if ret != "void" else "") + \
            f"DOWN$MH.invokeExact({', '.join(['funcPtr'] + call_args)});"
        return f"""/**
 * {{@snippet lang=c :
 * {comment_safe(c_text)}
 * }}
 */
{modifiers}class {name} {{

    {name}() {{
        // Should not be called directly
    }}

    /**
     * The function pointer signature, expressed as a functional interface
     */
    public interface Function {{
        {ret} apply({', '.join(params)});
    }}

    private static final FunctionDescriptor $DESC = {desc};

    /**
     * The descriptor of this function pointer
     */
    public static FunctionDescriptor descriptor() {{
        return $DESC;
    }}

    private static final MethodHandle UP$MH = {hc}.upcallHandle({name}.Function.class, "apply", $DESC);

    /**
     * Allocates a new upcall stub, whose implementation is defined by {{@code fi}}.
     * The lifetime of the returned segment is managed by {{@code arena}}
     */
    public static MemorySegment allocate({name}.Function fi, Arena arena) {{
        return Linker.nativeLinker().upcallStub(UP$MH.bindTo(fi), $DESC, arena);
    }}

    private static final MethodHandle DOWN$MH = Linker.nativeLinker().downcallHandle($DESC);

    /**
     * Invoke the upcall stub {{@code funcPtr}}, with given parameters
     */
    public static {ret} invoke({', '.join(inv_params)}) {{
        try {{
            {invoke}
        }} catch (Throwable ex$) {{
            throw new AssertionError("should not reach here", ex$);
        }}
    }}
}}
"""

    def emit_callbacks(self):
        for name, cur in self.m.callbacks:
            can = cur.underlying_typedef_type.get_canonical()
            fn = can.get_pointee() if can.kind == ci.TypeKind.POINTER else can
            params = [c for c in cur.get_children() if c.kind == ci.CursorKind.PARM_DECL]
            text = f"typedef {cur.underlying_typedef_type.spelling} {name}"
            try:
                self.files[name] = self.preamble() + self.callback_body(name, fn, params, text, "public ")
            except Unsupported as e:
                self.m.skipped.append((name, str(e)))

    # -- records ------------------------------------------------------------------------------------------------

    def record_fields(self, cur, base_bits, path):
        """Flattened (path, field cursor, absolute byte offset) for named fields, descending into anonymous members."""
        out = []
        for f in cur.type.get_fields():
            off = base_bits + f.get_field_offsetof()
            if f.is_bitfield():
                raise Unsupported(f"bitfield {cur.spelling}.{f.spelling}")
            if not f.spelling:
                out.append((path + [anon_name(f)], f, off // 8, True))
                out += self.record_fields(f.type.get_canonical().get_declaration(), off, path + [anon_name(f)])
            else:
                out.append((path + [f.spelling], f, off // 8, False))
        return out

    def group_layout(self, cur, name, indent):
        """structLayout/unionLayout expression with explicit C padding."""
        m, hc = self.m, self.hc
        is_union = cur.kind == ci.CursorKind.UNION_DECL
        size = cur.type.get_size()
        members, pos = [], 0
        pad = indent + "    "
        for f in cur.type.get_fields():
            if f.is_bitfield():
                raise Unsupported(f"bitfield {cur.spelling}.{f.spelling}")
            off = f.get_field_offsetof() // 8
            if not is_union and off > pos:
                members.append(f"MemoryLayout.paddingLayout({off - pos})")
            fname = anon_name(f) if not f.spelling else f.spelling
            if not f.spelling:
                inner = self.group_layout(f.type.get_canonical().get_declaration(), fname, pad)
                members.append(inner)
            else:
                members.append(f'{m.layout(f.type, hc)}.withName("{fname}")')
            fsize = f.type.get_size()
            if f.type.get_align() > 0 and off % f.type.get_align() != 0:
                raise Unsupported(f"misaligned field {cur.spelling}.{f.spelling} (packed struct)")
            pos = max(pos, off + fsize) if not is_union else max(pos, fsize)
        if pos < size:
            members.append(f"MemoryLayout.paddingLayout({size - pos})")
        fn = "unionLayout" if is_union else "structLayout"
        body = ",\n".join(pad + x for x in members)
        return f"MemoryLayout.{fn}(\n{body}\n{indent}).withName(\"{name}\")"

    def field_accessors(self, cls, path, f, offset):
        m, hc = self.m, self.hc
        fname = java_ident(path[-1])
        t = f.type
        can = canonical(t)
        sel = ", ".join(f'groupElement("{p}")' for p in path)
        lt = m.layout_type(t)
        c_decl = comment_safe(f"{t.spelling} {path[-1]}")
        out = f"""
    private static final {lt} {fname}$LAYOUT = ({lt})$LAYOUT.select({sel});

    /**
     * Layout for field:
     * {{@snippet lang=c :
     * {c_decl}
     * }}
     */
    public static final {lt} {fname}$layout() {{
        return {fname}$LAYOUT;
    }}

    private static final long {fname}$OFFSET = {offset};

    /**
     * Offset for field:
     * {{@snippet lang=c :
     * {c_decl}
     * }}
     */
    public static final long {fname}$offset() {{
        return {fname}$OFFSET;
    }}
"""
        if can.kind in PRIMITIVES:
            jt = PRIMITIVES[can.kind][1]
            out += f"""
    /**
     * Getter for field:
     * {{@snippet lang=c :
     * {c_decl}
     * }}
     */
    public static {jt} {fname}(MemorySegment struct) {{
        return struct.get({fname}$LAYOUT, {fname}$OFFSET);
    }}

    /**
     * Setter for field:
     * {{@snippet lang=c :
     * {c_decl}
     * }}
     */
    public static void {fname}(MemorySegment struct, {jt} fieldValue) {{
        struct.set({fname}$LAYOUT, {fname}$OFFSET, fieldValue);
    }}
"""
            if is_function_pointer(t) and t.kind not in (ci.TypeKind.TYPEDEF, ci.TypeKind.ELABORATED):
                fn = t.get_canonical().get_pointee()
                params = [c for c in f.get_children() if c.kind == ci.CursorKind.PARM_DECL]
                if fname == cls:
                    raise Unsupported(f"function-pointer field {cls}.{fname} would shadow its class")
                body = self.callback_body(fname, fn, params, f"{t.spelling} {path[-1]}", "public static ")
                out += "\n" + indent_block(body, "    ")
            return out
        # Records and arrays: the getter is a slice, the setter a copy.
        out += f"""
    /**
     * Getter for field:
     * {{@snippet lang=c :
     * {c_decl}
     * }}
     */
    public static MemorySegment {fname}(MemorySegment struct) {{
        return struct.asSlice({fname}$OFFSET, {fname}$LAYOUT.byteSize());
    }}

    /**
     * Setter for field:
     * {{@snippet lang=c :
     * {c_decl}
     * }}
     */
    public static void {fname}(MemorySegment struct, MemorySegment fieldValue) {{
        MemorySegment.copy(fieldValue, 0L, struct, {fname}$OFFSET, {fname}$LAYOUT.byteSize());
    }}
"""
        if can.kind == ci.TypeKind.CONSTANTARRAY:
            dims, elem = [], can
            while elem.kind == ci.TypeKind.CONSTANTARRAY:
                dims.append(elem.element_count)
                elem = canonical(elem.element_type)
            idx_params = ", ".join(f"long index{i}" for i in range(len(dims)))
            idx_args = ", ".join(f"index{i}" for i in range(len(dims)))
            seq = ", ".join("sequenceElement()" for _ in dims)
            out += f"""
    private static long[] {fname}$DIMS = {{ {', '.join(map(str, dims))} }};

    /**
     * Dimensions for array field:
     * {{@snippet lang=c :
     * {c_decl}
     * }}
     */
    public static long[] {fname}$dimensions() {{
        return {fname}$DIMS;
    }}
"""
            if elem.kind in PRIMITIVES:
                jt = PRIMITIVES[elem.kind][1]
                out += f"""    private static final VarHandle {fname}$ELEM_HANDLE = $LAYOUT.varHandle({sel}, {seq});

    /**
     * Indexed getter for field:
     * {{@snippet lang=c :
     * {c_decl}
     * }}
     */
    public static {jt} {fname}(MemorySegment struct, {idx_params}) {{
        return ({jt}){fname}$ELEM_HANDLE.get(struct, 0L, {idx_args});
    }}

    /**
     * Indexed setter for field:
     * {{@snippet lang=c :
     * {c_decl}
     * }}
     */
    public static void {fname}(MemorySegment struct, {idx_params}, {jt} fieldValue) {{
        {fname}$ELEM_HANDLE.set(struct, 0L, {idx_args}, fieldValue);
    }}
"""
            else:
                out += f"""    private static final MethodHandle {fname}$ELEM_HANDLE = $LAYOUT.sliceHandle({sel}, {seq});

    /**
     * Indexed getter for field:
     * {{@snippet lang=c :
     * {c_decl}
     * }}
     */
    public static MemorySegment {fname}(MemorySegment struct, {idx_params}) {{
        try {{
            return (MemorySegment){fname}$ELEM_HANDLE.invokeExact(struct, 0L, {idx_args});
        }} catch (Throwable ex$) {{
            throw new AssertionError("should not reach here", ex$);
        }}
    }}

    /**
     * Indexed setter for field:
     * {{@snippet lang=c :
     * {c_decl}
     * }}
     */
    public static void {fname}(MemorySegment struct, {idx_params}, MemorySegment fieldValue) {{
        MemorySegment.copy(fieldValue, 0L, {fname}(struct, {idx_args}), 0L, {fname}$LAYOUT.elementLayout().byteSize());
    }}
"""
        return out

    def nested_records(self, cur):
        """Inline anonymous record types of named fields, including those inside flattened anonymous members."""
        out = list(self.m.nested.get(cur.get_usr(), []))
        for f in cur.type.get_fields():
            if not f.spelling:
                out += self.nested_records(f.type.get_canonical().get_declaration())
        return out

    def emit_record(self, name, cur, modifiers="public "):
        kind = "union" if cur.kind == ci.CursorKind.UNION_DECL else "struct"
        layout = self.group_layout(cur, name, "    ")
        fields = "".join(self.field_accessors(name, path, f, off)
                         for path, f, off, anon in self.record_fields(cur, 0, []) if not anon)
        fields += "".join("\n" + indent_block(self.emit_record(java_ident(n), c, "public static "), "    ")
                          for n, c in self.nested_records(cur))
        return f"""/**
 * {{@snippet lang=c :
 * {kind} {name}
 * }}
 */
{modifiers}class {name} {{

    {name}() {{
        // Should not be called directly
    }}

    private static final GroupLayout $LAYOUT = {layout};

    /**
     * The layout of this {kind}
     */
    public static final GroupLayout layout() {{
        return $LAYOUT;
    }}
{fields}
    /**
     * Obtains a slice of {{@code arrayParam}} which selects the array element at {{@code index}}.
     * The returned segment has address {{@code arrayParam.address() + index * layout().byteSize()}}
     */
    public static MemorySegment asSlice(MemorySegment array, long index) {{
        return array.asSlice(layout().byteSize() * index);
    }}

    /**
     * The size (in bytes) of this {kind}
     */
    public static long sizeof() {{ return layout().byteSize(); }}

    /**
     * Allocate a segment of size {{@code layout().byteSize()}} using {{@code allocator}}
     */
    public static MemorySegment allocate(SegmentAllocator allocator) {{
        return allocator.allocate(layout());
    }}

    /**
     * Allocate an array of size {{@code elementCount}} using {{@code allocator}}.
     * The returned segment has size {{@code elementCount * layout().byteSize()}}.
     */
    public static MemorySegment allocateArray(long elementCount, SegmentAllocator allocator) {{
        return allocator.allocate(MemoryLayout.sequenceLayout(elementCount, layout()));
    }}

    /**
     * Reinterprets {{@code addr}} using target {{@code arena}} and {{@code cleanupAction}} (if any).
     * The returned segment has size {{@code layout().byteSize()}}
     */
    public static MemorySegment reinterpret(MemorySegment addr, Arena arena, Consumer<MemorySegment> cleanup) {{
        return reinterpret(addr, 1, arena, cleanup);
    }}

    /**
     * Reinterprets {{@code addr}} using target {{@code arena}} and {{@code cleanupAction}} (if any).
     * The returned segment has size {{@code elementCount * layout().byteSize()}}
     */
    public static MemorySegment reinterpret(MemorySegment addr, long elementCount, Arena arena, Consumer<MemorySegment> cleanup) {{
        return addr.reinterpret(layout().byteSize() * elementCount, arena, cleanup);
    }}
}}
"""

    def emit_records(self):
        for name, cur in self.m.record_decls:
            try:
                self.files[name] = self.preamble() + self.emit_record(name, cur)
            except Unsupported as e:
                self.m.skipped.append((name, str(e)))
        for alias, usr in self.m.typedef_aliases:
            target = self.m.records[usr]
            if target in self.files:
                self.files[alias] = self.preamble() + f"""/**
 * {{@snippet lang=c :
 * typedef struct {target} {alias}
 * }}
 */
public class {alias} extends {target} {{

    {alias}() {{
        // Should not be called directly
    }}
}}
"""

    def run(self):
        self.emit_records()
        self.emit_callbacks()
        self.header_classes()
        return self.files


def anon_name(f):
    loc = f.type.get_canonical().get_declaration().location
    return f"$anon${loc.line}:{loc.column}"


def indent_block(text, prefix):
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(True))


def java_string(s):
    out = []
    for ch in s:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0x20 <= o < 0x7f:
            out.append(ch)
        elif o < 0x80:
            out.append(f"\\{o:03o}")  # not \\u000a: Java reads unicode escapes before it lexes strings
        else:
            units = ch.encode("utf-16-be")  # non-BMP characters become a surrogate pair
            out.append("".join(f"\\u{units[i] << 8 | units[i + 1]:04x}" for i in range(0, len(units), 2)))
    return '"' + "".join(out) + '"'


# ---------------------------------------------------------------------------------------------------------------
# ABI probe

def write_probe(model, out_path):
    """C program printing, per struct class: S <class> <size> <align>, then F <class> <path> <offset> per field.

    <class> is the Java binary name; <path> names the layout path (anonymous members as $anon$line:col).
    """
    lines = ["// Generated by bindings/generator --probe: sizes, alignments and field offsets as the C compiler sees them.",
             "#include <stdio.h>", "#include <stddef.h>"]
    lines += [f'#include "{h}"' for h in model.cfg.headers]
    lines += ["", "int main(void) {"]
    em = Emitter(model, "probe")

    def record(java_name, ctype, cur):
        lines.append(f'    printf("S {java_name} %zu %zu\\n", sizeof({ctype}), _Alignof({ctype}));')
        for path, _, _, anon in em.record_fields(cur, 0, []):
            if not anon:
                lines.append(f'    printf("F {java_name} {"/".join(path)} %zu\\n", offsetof({ctype}, {path[-1]}));')
        for fname, nested in em.nested_records(cur):
            record(f"{java_name}${java_ident(fname)}", f"__typeof__((({ctype} *)0)->{fname})", nested)

    for name, cur in model.record_decls:
        record(name, cur.type.spelling, cur)
    lines += ["    return 0;", "}", ""]
    with open(out_path, "w", newline="\n") as f:
        f.write("\n".join(lines))


# ---------------------------------------------------------------------------------------------------------------

def tree_id(llama_src):
    try:
        return subprocess.run(["git", "-C", llama_src, "rev-parse", "HEAD^{tree}"], check=True, capture_output=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"generate.py: cannot read the git tree id of {llama_src}: {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--llama-src", required=True, help="llama.cpp source directory")
    ap.add_argument("--repo", required=True, help="repository root (for native/shim)")
    ap.add_argument("--config", default=os.path.join(HERE, "headers.json"))
    ap.add_argument("--out", help="Java source root to write (the package directory is replaced)")
    ap.add_argument("--probe", help="write the ABI probe C program here instead")
    ap.add_argument("--report", action="store_true", help="print counts and skipped declarations to stderr")
    a = ap.parse_args()
    lib = init_clang()
    cfg = Config(a.config, os.path.abspath(a.llama_src), os.path.abspath(a.repo))
    model = Model(cfg, lib)
    if a.probe:
        write_probe(model, a.probe)
        return
    if not a.out:
        sys.exit("generate.py: give --out or --probe")
    emitter = Emitter(model, tree_id(a.llama_src))
    files = emitter.run()
    pkg_dir = os.path.join(a.out, *cfg.package.split("."))
    os.makedirs(pkg_dir, exist_ok=True)
    for old in glob.glob(os.path.join(pkg_dir, "*.java")):
        if os.path.basename(old)[:-5] not in files:
            os.remove(old)
    for name in sorted(files):
        target = os.path.join(pkg_dir, name + ".java")
        data = files[name].encode("utf-8")
        if os.path.exists(target):
            with open(target, "rb") as f:
                if f.read() == data:
                    continue  # leave unchanged files untouched, so builds stay incremental
        with open(target, "wb") as f:
            f.write(data)
    if a.report:
        report(model, emitter)
    for what, why in model.skipped:
        print(f"generate.py: skipped {what}: {why}", file=sys.stderr)


def report(model, emitter):
    kinds = {}
    for _, _, kind in emitter.members:
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"functions: {kinds.get('function', 0)} (+{kinds.get('variadic', 0)} variadic)", file=sys.stderr)
    print(f"structs/unions: {len(model.record_decls)} (+{len(model.typedef_aliases)} typedef aliases)", file=sys.stderr)
    print(f"callbacks: {len(model.callbacks)}", file=sys.stderr)
    print(f"enums: {sum(1 for k, _ in model.header_items if k == 'enum')}, enum constants: {kinds.get('enum', 0)}",
          file=sys.stderr)
    print(f"macro constants: {kinds.get('macro', 0)}, typedef layouts: {kinds.get('typedef', 0)}, "
          f"globals: {kinds.get('global', 0)}", file=sys.stderr)
    print(f"dependencies from other headers: {', '.join(model.dependencies) or 'none'}", file=sys.stderr)


if __name__ == "__main__":
    main()
