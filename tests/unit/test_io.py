"""kv.read_table on the files Korean analysts have: Excel's CP949, EUC-KR, BOMs, ';' and tab files, .xlsx."""

from __future__ import annotations

import codecs
import doctest

import pandas as pd
import pytest

import kosbert_viz as kv
import kosbert_viz.io.tables as kio
from kosbert_viz.io.tables import TableError, read_table

ROWS = [
    ("배송이 너무 늦어요, 환불해 주세요", "배송"),
    ("앱이 업데이트 후에 자꾸 꺼져요", "앱"),
    ("국물이 맛있어요; 또 올게요", "식당"),
    ('그는 "최고"라고 했어요', "후기"),
]


def _text(sep: str, quote_all: bool = True) -> str:
    def field(v):
        return '"' + v.replace('"', '""') + '"' if quote_all or sep in v or '"' in v else v

    return f"리뷰{sep}주제\n" + "".join(f"{field(a)}{sep}{b}\n" for a, b in ROWS)


def _expect(df):
    assert list(df.columns) == ["리뷰", "주제"]
    assert df["리뷰"].tolist() == [a for a, _ in ROWS]
    assert df["주제"].tolist() == [b for _, b in ROWS]


@pytest.mark.parametrize(
    "name,data,encoding,sep",
    [
        ("excel.csv", _text(",").encode("cp949"), "cp949", ","),
        ("euckr.csv", _text(",").encode("euc-kr"), "cp949", ","),  # CP949 is a superset of EUC-KR
        ("bom.csv", codecs.BOM_UTF8 + _text(",").encode(), "utf-8-sig", ","),
        ("plain.csv", _text(",").encode(), "utf-8", ","),
        ("semicolon.csv", _text(";", quote_all=False).encode(), "utf-8", ";"),
        ("tabs.txt", _text("\t", quote_all=False).encode(), "utf-8", "\t"),
        ("pipes.csv", _text("|", quote_all=False).encode("cp949"), "cp949", "|"),
        ("unicode.txt", _text("\t", quote_all=False).encode("utf-16"), "utf-16", "\t"),  # Excel "Unicode text"
        ("mac.csv", _text(",").replace("\n", "\r").encode(), "utf-8", ","),  # old Mac line ends
        ("reviews.tsv.gz", None, "cp949", "\t"),
    ],
)
def test_encoding_and_separator_are_detected_and_reported(tmp_path, name, data, encoding, sep):
    path = tmp_path / name
    if data is None:
        import gzip

        path.write_bytes(gzip.compress(_text("\t", quote_all=False).encode("cp949")))
    else:
        path.write_bytes(data)
    df, info = read_table(path)
    _expect(df)
    assert info["encoding"] == encoding and info["encoding_detected"]
    assert info["sep"] == sep and info["sep_detected"]
    assert info["rows"] == len(ROWS) and info["columns"] == ["리뷰", "주제"]


def test_cp949_file_fails_plain_pandas_but_reads_here(tmp_path):
    """The probe of issue 12 item 2: Excel's CP949 CSV is not UTF-8."""
    path = tmp_path / "excel.csv"
    path.write_bytes(_text(",").encode("cp949"))
    with pytest.raises(UnicodeDecodeError):
        pd.read_csv(path)
    _expect(read_table(path)[0])


def test_one_column_file_keeps_commas_inside_texts(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text("리뷰\n" + "".join(f"{a}\n" for a, _ in ROWS[:2]), encoding="utf-8")
    df, info = read_table(path)
    assert df["리뷰"].tolist() == [a for a, _ in ROWS[:2]] and info["sep"] is None


def test_explicit_sep_and_encoding_are_used(tmp_path):
    path = tmp_path / "x.dat"
    path.write_bytes(_text(";", quote_all=False).encode("euc-kr"))
    df, info = read_table(path, sep=";", encoding="euc-kr")
    _expect(df)
    assert info["encoding"] == "euc_kr" and not info["encoding_detected"] and not info["sep_detected"]
    assert read_table(tmp_path / "x.dat", sep="\\t", encoding="euc-kr")[1]["sep"] == "\t"  # typed on a shell
    bom = tmp_path / "bom.csv"
    bom.write_bytes(codecs.BOM_UTF8 + _text(",").encode())
    _expect(read_table(bom, encoding="utf-8")[0])  # the BOM does not end up in the first column's name


def test_xlsx_sheets_and_missing_cells(tmp_path):
    pytest.importorskip("openpyxl")
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        pd.DataFrame({"리뷰": [a for a, _ in ROWS], "주제": [b for _, b in ROWS]}).to_excel(
            xl, sheet_name="리뷰", index=False
        )
        pd.DataFrame({"text": ["가", None], "n": [1, 2.5]}).to_excel(xl, sheet_name="other", index=False)
    df, info = read_table(path)
    _expect(df)
    assert info["format"] == "xlsx" and info["sheet"] == "리뷰" and info["sheets"] == ["리뷰", "other"]
    other, _ = read_table(path, sheet="other")
    assert other.to_dict("list") == {"text": ["가", ""], "n": ["1", "2.5"]}  # every cell a str, missing ""
    assert read_table(path, sheet=1)[0].equals(other)
    with pytest.raises(ValueError, match=r"sheet 'nope' is not in .*sheets are \['리뷰', 'other'\]"):
        read_table(path, sheet="nope")


def test_xlsx_without_openpyxl_names_the_extra(tmp_path, monkeypatch):
    import sys

    path = tmp_path / "book.xlsx"
    path.write_bytes(b"PK\x03\x04")
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl -> ImportError
    with pytest.raises(ImportError, match=r'pip install "kosbert_viz\[excel\]"'):
        read_table(path)


def test_parquet_columns_become_str(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"리뷰": ["가", "나"], "n": [1.0, None]}).to_parquet(path)
    df, info = read_table(path)
    assert df.to_dict("list") == {"리뷰": ["가", "나"], "n": ["1.0", ""]} and info["format"] == "parquet"


@pytest.mark.parametrize(
    "name,data,error,match",
    [
        ("empty.csv", b"", TableError, r"is empty \(0 bytes\)"),
        ("blank.csv", b"\n \n", TableError, "holds no text"),
        ("bom-only.csv", codecs.BOM_UTF8, TableError, "holds no text"),
        ("header.csv", "리뷰,주제\n".encode("cp949"), TableError, r"has a header \(리뷰, 주제\) but no rows"),
        ("binary.csv", bytes(range(256)) * 4, TableError, "binary file"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5,6\n", TableError, r"not a consistent table .*line 3.*--sep"),
        ("old.xls", b"\xd0\xcf\x11\xe0", TableError, r"save it as \.xlsx or CSV"),
    ],
)
def test_unreadable_files_get_a_clear_error(tmp_path, name, data, error, match):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(error, match=match):
        read_table(path)
    assert issubclass(TableError, ValueError)


def test_missing_file_folder_and_bad_names(tmp_path):
    (tmp_path / "reviews.csv").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"review\.csv does not exist; did you mean reviews\.csv\?"):
        read_table(tmp_path / "review.csv")
    with pytest.raises(IsADirectoryError, match="is a folder, expected a file"):
        read_table(tmp_path)
    with pytest.raises(ValueError, match=r"unknown encoding 'utf-9', expected a codec name"):
        read_table(tmp_path / "reviews.csv", encoding="utf-9")
    with pytest.raises(ValueError, match=r"sep must be one character"):
        read_table(tmp_path / "reviews.csv", sep=";;")
    with pytest.raises(TypeError, match="path must be a file path"):
        read_table(["reviews.csv"])


def test_wrong_explicit_encoding_says_where_and_what_to_do(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(_text(",").encode("cp949"))
    with pytest.raises(TableError, match=r"is not valid utf-8: bytes .* at byte 0 .*leave out the encoding"):
        read_table(path, encoding="utf-8")


def test_exported_and_docstring_examples_run():
    assert kv.read_table is read_table
    result = doctest.testmod(kio, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 6 and result.failed == 0
