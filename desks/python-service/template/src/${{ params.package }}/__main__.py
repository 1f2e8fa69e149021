"""`python -m ${{ params.package }}`: serve the app on 127.0.0.1."""

from wsgiref.simple_server import make_server

from ${{ params.package }}.app import PORT, app

if __name__ == "__main__":
    with make_server("127.0.0.1", PORT, app) as server:
        print(f"serving on http://127.0.0.1:{PORT}")
        server.serve_forever()
