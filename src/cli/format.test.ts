import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isBerthError } from '../errors.js';
import { alignColumns, formatRows, parseTemplate, renderTemplate } from './format.js';

const doc = {
  Id: 'sha256:abc',
  Name: '/web',
  N: 3,
  Ratio: 0.5,
  On: true,
  Off: false,
  Nil: null,
  Empty: '',
  Html: '<a&b>',
  Names: ['a', 'b', 'c'],
  Nums: [1, 2],
  Labels: { 'com.z': '1', 'com.a': '2' },
  Config: { Env: ['A=1', 'B=2'], Cmd: null, User: '' },
  State: { Status: 'running', Health: { Status: 'healthy' } },
  Label: (k: string) => ({ a: 'x' })[k] ?? '',
};

const cases: [string, string][] = [
  ['plain text', 'plain text'],
  ['{{.Name}}', '/web'],
  ['{{.State.Health.Status}}', 'healthy'],
  ['{{.N}} {{.Ratio}} {{.On}} {{.Nil}}', '3 0.5 true <nil>'],
  ['{{.Missing}}', '<no value>'],
  ['{{.Missing.Deeper}}', '<no value>'],
  ['{{.Names}}', '[a b c]'],
  ['{{.Labels}}', 'map[com.a:2 com.z:1]'],
  ['{{json .Labels}}', '{"com.z":"1","com.a":"2"}'],
  ['{{json .Config}}', '{"Env":["A=1","B=2"],"Cmd":null,"User":""}'],
  ['{{json .Html}}', '"<a&b>"'],
  ['{{json .Names}}', '["a","b","c"]'],
  ['{{.Html | json}}', '"<a&b>"'],
  ['{{index .Labels "com.a"}}', '2'],
  ['{{index .Labels "nope"}}', ''],
  ['{{index .Names 1}}', 'b'],
  ['{{index .Config.Cmd 0}}', ''],
  ['{{join .Names ","}}', 'a,b,c'],
  ['{{join .Config.Env " "}}', 'A=1 B=2'],
  ['{{split "a:b:c" ":"}}', '[a b c]'],
  ['{{len (split "a:b:c" ":")}}', '3'],
  ['{{upper .Name}}{{lower "AbC"}}', '/WEBabc'],
  ['{{title "hello wide-world foo_bar"}}', 'Hello Wide-World Foo_bar'],
  ['{{pad "x" 2 1}}|{{pad "" 2 1}}|', '  x ||'],
  ['{{truncate "abcdef" 3}} {{truncate "ab" 3}}', 'abc ab'],
  ['{{println "a" 1}}', 'a 1\n'],
  ['{{print "a" 1 2 "b"}}', 'a1 2b'],
  ['{{printf "%s=%d" "n" .N}}', 'n=3'],
  ['{{printf "%-6s|%5s|%05d|%x|%q|%t|%v|%%" "ab" "cd" 42 255 "q" true .Names}}', 'ab    |   cd|00042|ff|"q"|true|[a b c]|%'],
  ['{{printf "%.2f %.3g %e" 3.14159 1234.5 1500.0}}', '3.14 1.23e+03 1.500000e+03'],
  ['{{printf "%d" "x"}}', '%!d(string=x)'],
  ['{{printf "%s %s" "a"}}', 'a %!s(MISSING)'],
  ['{{len .Names}} {{len .Labels}} {{len "héllo"}}', '3 2 6'],
  ['{{range .Names}}<{{.}}>{{end}}', '<a><b><c>'],
  ['{{$é_1 := "x"}}{{$Zz9 := "y"}}{{$é_1}}{{$Zz9}}', 'xy'],
  ['{{range $i, $n := .Names}}{{$i}}:{{$n}} {{end}}', '0:a 1:b 2:c '],
  ['{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}', 'com.a=2;com.z=1;'],
  ['{{range $v := .Labels}}{{$v}}{{end}}', '21'],
  ['{{range .Config.Cmd}}x{{else}}none{{end}}', 'none'],
  ['{{range .Names}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}', 'ac'],
  ['{{range .Names}}{{if eq . "b"}}{{break}}{{end}}{{.}}{{end}}', 'a'],
  ['{{range 3}}{{.}}{{end}}', '012'],
  ['{{range .Names}}{{$.Name}}{{end}}', '/web/web/web'],
  ['{{if .On}}yes{{else}}no{{end}}', 'yes'],
  ['{{if .Empty}}yes{{else if .N}}n{{else}}no{{end}}', 'n'],
  ['{{if .Config.Cmd}}y{{else}}n{{end}}{{if .Names}}y{{end}}{{if .Labels}}y{{end}}{{if .Missing}}y{{end}}', 'nyy'],
  ['{{if and .On .N}}a{{end}}{{if or .Off .Empty}}b{{else}}c{{end}}{{if not .Off}}d{{end}}', 'acd'],
  ['{{and .N .Empty "x"}}|{{or .Empty .Off "z"}}', '|z'],
  ['{{if eq .N 1 2 3}}in{{end}} {{ne .Name "/x"}} {{lt .N 4}} {{ge "b" "a"}}', 'in true true true'],
  ['{{with .State}}{{.Status}}{{end}}', 'running'],
  ['{{with .Config.User}}u{{else}}root{{end}}', 'root'],
  ['{{with $h := .State.Health}}{{$h.Status}}{{end}}', 'healthy'],
  ['{{with .Empty}}x{{else with .N}}{{.}}{{end}}', '3'],
  ['{{$x := .N}}{{$x}}', '3'],
  ['{{$x := 1}}{{range .Names}}{{$x = .}}{{end}}{{$x}}', 'c'],
  ['{{(index .Names 2)}}{{(.State).Status}}', 'crunning'],
  ['{{.Name | printf "%s!" | upper}}', '/WEB!'],
  ['{{.Label "a"}}|{{.Label "b"}}', 'x|'],
  ['a  {{- .N -}}  b', 'a3b'],
  ['a\n {{- /* comment */ -}} \nb', 'ab'],
  ['{{/* just a comment */}}', ''],
  ['{{`raw\\t`}}{{"\\t\\x41\\u00e9\\101"}}', 'raw\\t\tAéA'],
  ["{{'a'}} {{-1}} {{1.5e3}} {{0x1F}} {{true}} {{nil}}", '97 -1 1500 31 true <nil>'],
  ['{{"}}"}}', '}}'],
  ['x{{.N\n}}y', 'x3y'],
];

describe('renderTemplate', () => {
  for (const [tpl, want] of cases) {
    it(JSON.stringify(tpl), () => assert.equal(renderTemplate(tpl, doc), want));
  }
  it('does not process \\t escapes (docker inspect does not)', () => {
    assert.equal(renderTemplate('{{.N}}\\t{{.N}}', doc), '3\\t3');
  });
  it('renders many documents from one parse', () => {
    const t = parseTemplate('{{.A}}');
    assert.deepEqual([1, 2].map((A) => t.execute({ A })), ['1', '2']);
  });
});

const parseErrors: [string, string][] = [
  ['{{.N', 'template parsing error: template: :1: unclosed action'],
  ['{{end}}', 'template parsing error: template: :1: unexpected {{end}}'],
  ['{{else}}', 'template parsing error: template: :1: unexpected {{else}}'],
  ['{{if .N}}x', 'template parsing error: template: :1: unexpected EOF'],
  ['{{nosuch .N}}', 'template parsing error: template: :1: function "nosuch" not defined'],
  ['{{$x}}', 'template parsing error: template: :1: undefined variable "$x"'],
  ['{{}}', 'template parsing error: template: :1: missing value for command'],
  ['{{break}}', 'template parsing error: template: :1: {{break}} outside {{range}}'],
  ['{{"abc}}', 'template parsing error: template: :1: unterminated quoted string'],
  ['\n{{define "x"}}{{end}}', 'template parsing error: template: :2: {{define}} is not supported'],
  ['{{/* x', 'template parsing error: template: :1: unclosed comment'],
  ['{{(.N}}', 'template parsing error: template: :1: unclosed left paren'],
  ['{{.N | 3}}', 'template parsing error: template: :1: non executable command in pipeline stage 2'],
];
const execErrors: [string, string][] = [
  ['{{.N.X}}', 'template: :1:2: executing "" at <.N.X>: can\'t evaluate field X in type int'],
  ['x\n  {{.Names.Y}}', 'template: :2:4: executing "" at <.Names.Y>: can\'t evaluate field Y in type []interface {}'],
  ['{{.Nil.X}}', 'template: :1:2: executing "" at <.Nil.X>: nil pointer evaluating interface {}.X'],
  ['{{index .Names 9}}', 'template: :1:2: executing "" at <index .Names 9>: error calling index: index out of range: 9'],
  ['{{upper .N}}', 'template: :1:2: executing "" at <upper .N>: error calling upper: wrong type for value; expected string; got int'],
  ['{{join .Nums ","}}', 'template: :1:2: executing "" at <join .Nums ",">: error calling join: wrong type for value; expected []string; got []interface {}'],
  ['{{json}}', 'template: :1:2: executing "" at <json>: wrong number of args for json: want 1 got 0'],
  ['{{range .Name}}{{end}}', 'template: :1:8: executing "" at <.Name>: range can\'t iterate over /web'],
  ['{{lt .N "a"}}', 'template: :1:2: executing "" at <lt .N "a">: error calling lt: incompatible types for comparison'],
  ['{{.Name 1}}', 'template: :1:2: executing "" at <.Name>: Name is not a method but has arguments'],
];

describe('template errors', () => {
  for (const [tpl, msg] of [...parseErrors, ...execErrors]) {
    it(JSON.stringify(tpl), () =>
      assert.throws(
        () => renderTemplate(tpl, doc),
        (e: unknown) => isBerthError(e, 'invalid_argument') && e.message === msg,
      ),
    );
  }
  it('random templates only ever fail with invalid_argument', () => {
    const piece = fc.constantFrom('{{', '}}', '.N', '.Names', ' ', '|', 'json', 'range', 'if', 'end', 'else', '$x', ':=', '"s"', '(', ')', '-', '3', 'x', 'index', '/*', '*/', '\n', '$', ',');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 20 }), (parts) => {
        try {
          assert.equal(typeof renderTemplate(parts.join(''), doc), 'string');
        } catch (e) {
          assert.ok(isBerthError(e, 'invalid_argument'), String(e));
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('alignColumns (tabwriter 10,1,3)', () => {
  it('pads columns to max(cell+3, 10) and never pads the last cell', () => {
    assert.equal(alignColumns('A\tBB\tC\nlonger-than-ten\tx\ty\n'), 'A                 BB        C\nlonger-than-ten   x         y\n');
  });
  it('starts a new block where a line has fewer cells', () => {
    assert.equal(alignColumns('a\tb\nsingle\naaaaaaaaaaaa\tb'), 'a         b\nsingle\naaaaaaaaaaaa   b');
  });
  it('counts code points, not UTF-16 units or bytes', () => {
    assert.equal(alignColumns('é😀\tx\nab\ty'), 'é😀        x\nab        y');
  });
  it('pads empty cells', () => {
    assert.equal(alignColumns('\tx\na\ty'), '          x\na         y');
  });
});

describe('formatRows', () => {
  const rows = [
    { Repository: 'busybox', Tag: 'latest', ID: '1234567890ab', Size: '4.26MB', Digest: '<none>' },
    { Repository: 'registry.example.com/team/app', Tag: 'v1.2', ID: 'ffffffffffff', Size: '1.1GB', Digest: '<none>' },
  ];
  const opts = {
    defaultTable: 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}',
    headers: { ID: 'IMAGE ID', Repository: 'REPOSITORY', Tag: 'TAG', Size: 'SIZE', Digest: 'DIGEST' },
  };
  const table = [
    'REPOSITORY                      TAG       IMAGE ID       SIZE',
    'busybox                         latest    1234567890ab   4.26MB',
    'registry.example.com/team/app   v1.2      ffffffffffff   1.1GB',
    '',
  ].join('\n');

  it('uses the default table without --format and with "table"', () => {
    assert.equal(formatRows(undefined, rows, opts), table);
    assert.equal(formatRows('', rows, opts), table);
    assert.equal(formatRows('table', rows, opts), table);
  });
  it('prints only the header for no rows', () => {
    assert.equal(formatRows(undefined, [], opts), 'REPOSITORY   TAG       IMAGE ID   SIZE\n');
    assert.equal(formatRows('{{.ID}}', [], opts), '');
  });
  it('json: one object per line, keys sorted and <>& escaped like docker', () => {
    assert.equal(
      formatRows('json', rows.slice(0, 1), opts),
      '{"Digest":"\\u003cnone\\u003e","ID":"1234567890ab","Repository":"busybox","Size":"4.26MB","Tag":"latest"}\n',
    );
    assert.equal(formatRows(' json ', rows.slice(0, 1), opts), formatRows('{{json .}}', rows.slice(0, 1), opts));
    assert.equal(formatRows('{{json .Digest}}', rows.slice(0, 1), opts), '"<none>"\n');
  });
  it('a plain template prints one unaligned line per row, with \\t and \\n escapes', () => {
    assert.equal(formatRows('{{.Repository}}:{{.Tag}}', rows, opts), 'busybox:latest\nregistry.example.com/team/app:v1.2\n');
    assert.equal(formatRows('{{.ID}}\\t{{.Tag}}\\n', rows.slice(0, 1), opts), '1234567890ab\tlatest\n\n');
    assert.equal(formatRows('  {{.Tag}}  ', rows.slice(0, 1), opts), 'latest\n');
  });
  it('table <tpl> derives headers, through docker functions, with fallbacks for unlisted fields', () => {
    assert.equal(
      formatRows('table {{.ID}}\\t{{upper .Tag}}\\t{{.Digest}}', rows, opts),
      'IMAGE ID       TAG       DIGEST\n1234567890ab   LATEST    <none>\nffffffffffff   V1.2      <none>\n',
    );
    assert.equal(formatRows('table {{.ID}}: {{.Repository}}', rows.slice(0, 1), opts), 'IMAGE ID: REPOSITORY\n1234567890ab: busybox\n');
    assert.equal(formatRows('table {{.CreatedSince}}', [{ CreatedSince: 'now' }], opts), 'CREATED SINCE\nnow\n');
  });
  it('quiet prints IDs unless a custom template is given', () => {
    assert.equal(formatRows(undefined, rows, { ...opts, quiet: true }), '1234567890ab\nffffffffffff\n');
    assert.equal(formatRows('table', rows, { ...opts, quiet: true, quietField: 'Tag' }), 'latest\nv1.2\n');
    assert.equal(formatRows('{{.Tag}}', rows, { ...opts, quiet: true }), 'latest\nv1.2\n');
  });
  it('a missing field is an error, as for docker struct rows', () => {
    assert.throws(
      () => formatRows('{{.Nope}}', rows, { ...opts, typeName: '*formatter.imageContext' }),
      (e: unknown) =>
        isBerthError(e, 'invalid_argument') &&
        e.message === 'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.imageContext',
    );
    assert.throws(() => formatRows('table {{.Nope}}', rows, opts), (e: unknown) => isBerthError(e, 'invalid_argument'));
  });
  it('does not mutate the rows', () => {
    const r = [{ ID: 'x' }];
    formatRows('json', r, opts);
    assert.deepEqual(Object.getOwnPropertySymbols(r[0] as object), []);
  });
});
