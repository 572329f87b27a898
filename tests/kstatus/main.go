// kstatus reads Kubernetes objects (JSON, one per line) on stdin and prints, for each, the status
// that sigs.k8s.io/cli-utils' kstatus computes — what Flux, Argo CD-style tooling and
// `kubectl wait`-like tools conclude — as "<Status>\t<message>".
package main

import (
	"bufio"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	// Decodes whole numbers as int64, as Kubernetes' own unstructured objects hold them.
	"k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for scanner.Scan() {
		var obj map[string]interface{}
		if err := json.Unmarshal(scanner.Bytes(), &obj); err != nil {
			fmt.Fprintf(os.Stderr, "not JSON: %v\n", err)
			os.Exit(2)
		}
		result, err := status.Compute(&unstructured.Unstructured{Object: obj})
		if err != nil {
			fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("%s\t%s\n", result.Status, result.Message)
	}
}
